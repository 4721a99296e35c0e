package kafkaext

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestUnreadableRangeRoundTripsThroughAFetchResponse(t *testing.T) {
	want := UnreadableRange{From: 120, To: 200}
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = 12
	rt := kmsg.NewFetchResponseTopic()
	rt.Topic = "orders"
	rp := kmsg.NewFetchResponseTopicPartition()
	rp.ErrorCode = 2 // CORRUPT_MESSAGE
	rp.UnknownTags.Set(UnreadableRangeTag, AppendUnreadableRange(nil, want))
	rt.Partitions = append(rt.Partitions, rp)
	resp.Topics = append(resp.Topics, rt)

	wire := resp.AppendTo(nil)
	got := kmsg.NewPtrFetchResponse()
	got.Version = 12
	if err := got.ReadFrom(wire); err != nil {
		t.Fatalf("read back: %v", err)
	}
	var found bool
	got.Topics[0].Partitions[0].UnknownTags.Each(func(tag uint32, v []byte) {
		if tag != UnreadableRangeTag {
			return
		}
		r, err := ParseUnreadableRange(v)
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		if r != want {
			t.Fatalf("range %+v, want %+v", r, want)
		}
		found = true
	})
	if !found {
		t.Fatal("tagged field lost on the wire")
	}
}

func TestParseUnreadableRangeRefusesBadValues(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":      nil,
		"short":      make([]byte, 15),
		"long":       make([]byte, 17),
		"empty span": AppendUnreadableRange(nil, UnreadableRange{From: 5, To: 5}),
		"backwards":  AppendUnreadableRange(nil, UnreadableRange{From: 9, To: 5}),
		"negative":   AppendUnreadableRange(nil, UnreadableRange{From: -1, To: 5}),
	} {
		if _, err := ParseUnreadableRange(b); !errors.Is(err, ErrBadUnreadableRange) {
			t.Errorf("%s: err %v, want ErrBadUnreadableRange", name, err)
		}
	}
}

func TestUnreadableRangeString(t *testing.T) {
	if got := (UnreadableRange{From: 120, To: 200}).String(); got != "offsets 120 to 199" {
		t.Fatalf("String() = %q", got)
	}
}
