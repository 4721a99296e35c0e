package event

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorsMatchTheirSentinels(t *testing.T) {
	oor := fmt.Errorf("fetch: %w", &OffsetOutOfRangeError{Topic: "t", Partition: 1, Offset: 9, LogStartOffset: 2, HighWatermark: 5})
	if !errors.Is(oor, ErrOffsetOutOfRange) || errors.Is(oor, ErrUnreadable) {
		t.Fatalf("%v: errors.Is does not match ErrOffsetOutOfRange alone", oor)
	}
	ue := fmt.Errorf("fetch: %w", &UnreadableError{Topic: "t", Partition: 1, From: 3, To: 6, Cause: errors.New("crc")})
	if !errors.Is(ue, ErrUnreadable) || errors.Is(ue, ErrOffsetOutOfRange) {
		t.Fatalf("%v: errors.Is does not match ErrUnreadable alone", ue)
	}
}

func TestUnreadableErrorNamesTheLostOffsets(t *testing.T) {
	for _, tc := range []struct {
		from, to int64
		want     string
	}{
		{7, 8, "offset 7"},
		{7, 10, "offsets 7 to 9"},
	} {
		e := &UnreadableError{Topic: "t", Partition: 0, From: tc.from, To: tc.to, Cause: errors.New("damaged")}
		if got := e.Lost(); got != tc.want {
			t.Errorf("[%d, %d): Lost() = %q, want %q", tc.from, tc.to, got, tc.want)
		}
		if want := "event: " + tc.want + " of t/0 cannot be read (resume at " + fmt.Sprint(tc.to) + "): damaged"; e.Error() != want {
			t.Errorf("Error() = %q, want %q", e.Error(), want)
		}
	}
}
