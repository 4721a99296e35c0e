package producerstate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/twmb/franz-go/pkg/kerr"
)

// baseTime is the batch timestamp tests start from, in milliseconds.
var baseTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// memLog is an in-memory HeaderScanner: batch headers with dense offsets.
type memLog struct {
	headers []recordbatch.Header
	start   int64
}

func (l *memLog) end() int64 {
	if len(l.headers) == 0 {
		return l.start
	}
	return l.headers[len(l.headers)-1].NextOffset()
}

// add appends h at the log end and returns it with its base offset set.
func (l *memLog) add(h recordbatch.Header) recordbatch.Header {
	h.BaseOffset = l.end()
	l.headers = append(l.headers, h)
	return h
}

func (l *memLog) ScanHeaders(offset int64, fn func(recordbatch.Header) error) error {
	for _, h := range l.headers {
		if h.LastOffset() < offset {
			continue
		}
		if err := fn(h); err != nil {
			return err
		}
	}
	return nil
}

func (l *memLog) Offsets() commitlog.Offsets {
	return commitlog.Offsets{LogStart: l.start, LogEnd: l.end(), HighWatermark: l.end(), RecoveryPoint: l.end()}
}

// hdr returns the header of a data batch of n records from producer pid.
func hdr(pid int64, epoch int16, seq int32, n int32) recordbatch.Header {
	return recordbatch.Header{
		Magic:           recordbatch.Magic,
		ProducerID:      pid,
		ProducerEpoch:   epoch,
		BaseSequence:    seq,
		LastOffsetDelta: n - 1,
		NumRecords:      n,
		BaseTimestamp:   baseTime.UnixMilli(),
		MaxTimestamp:    baseTime.UnixMilli() + int64(n) - 1,
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testOptions() Options {
	return Options{Now: func() time.Time { return baseTime }, Logger: quietLogger()}
}

// newManager loads a Manager over log in a fresh directory.
func newManager(t testing.TB, log HeaderScanner) *Manager {
	t.Helper()
	m, err := Load(context.Background(), t.TempDir(), log, testOptions())
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return m
}

// write checks h, and when accepted appends it to log and updates m, as the
// partition leader does. It returns the decision and the header as written.
func write(t testing.TB, m *Manager, log *memLog, h recordbatch.Header) (Decision, recordbatch.Header, error) {
	t.Helper()
	d, err := m.Check(h)
	if err != nil || d.Duplicate {
		return d, h, err
	}
	h = log.add(h)
	m.Update(h, h.BaseOffset)
	return d, h, nil
}

// replicate appends h to log and applies it without Check, as a follower
// applies what its leader checked; it starts a producer at any sequence.
func replicate(m *Manager, log *memLog, h recordbatch.Header) recordbatch.Header {
	h = log.add(h)
	m.Update(h, h.BaseOffset)
	return h
}

// mustWrite is write for a batch that must be accepted.
func mustWrite(t testing.TB, m *Manager, log *memLog, h recordbatch.Header) recordbatch.Header {
	t.Helper()
	d, h, err := write(t, m, log, h)
	if err != nil {
		t.Fatalf("producer %d epoch %d seq %d: %v", h.ProducerID, h.ProducerEpoch, h.BaseSequence, err)
	}
	if d.Duplicate {
		t.Fatalf("producer %d epoch %d seq %d: unexpected duplicate of %+v", h.ProducerID, h.ProducerEpoch, h.BaseSequence, d.Original)
	}
	return h
}

// wantRefused asserts that err is a *ProducerError with the given Kafka code.
func wantRefused(t testing.TB, err error, code *kerr.Error) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want %s", code.Message)
	}
	if !errors.Is(err, code) {
		t.Fatalf("error %v, want %s", err, code.Message)
	}
	var pe *ProducerError
	if !errors.As(err, &pe) || pe.Code != code {
		t.Fatalf("error %v is not a *ProducerError with code %s", err, code.Message)
	}
	var ke *kerr.Error
	if !errors.As(err, &ke) || ke.Code != code.Code {
		t.Fatalf("errors.As(*kerr.Error) on %v gave %v", err, ke)
	}
}

// sameState asserts that two managers hold the same producers.
func sameState(t testing.TB, got, want []ProducerState) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	t.Errorf("state differs: got %d producers, want %d", len(got), len(want))
	for i := 0; i < max(len(got), len(want)); i++ {
		var g, w string
		if i < len(got) {
			g = fmt.Sprintf("%+v", got[i])
		}
		if i < len(want) {
			w = fmt.Sprintf("%+v", want[i])
		}
		if g != w {
			t.Errorf("  got  %s\n  want %s", g, w)
		}
	}
	t.FailNow()
}
