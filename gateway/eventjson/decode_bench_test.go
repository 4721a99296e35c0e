package eventjson

import (
	"strconv"
	"strings"
	"testing"

	"github.com/runnel-dev/runnel/gateway/event"
)

// benchBody is n events shaped like the load generator's: a short key and a
// JSON string value, about size bytes per event in all.
func benchBody(n, size int) []byte {
	value := `"` + strings.Repeat("x", max(size-20, 0)) + `"`
	ev := func(i int) string { return `{"key":"k` + strconv.Itoa(i) + `","value":` + value + `}` }
	if n == 1 {
		return []byte(ev(0))
	}
	parts := make([]string, n)
	for i := range parts {
		parts[i] = ev(i)
	}
	return []byte(`{"events":[` + strings.Join(parts, ",") + `]}`)
}

func benchDecode(b *testing.B, n int, body []byte, decode func([]byte, []event.Event, int) ([]event.Event, error)) {
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	var evs []event.Event
	for b.Loop() {
		var err error
		evs, err = decode(body, evs, 1000)
		if err != nil || len(evs) != n {
			b.Fatalf("%d events, %v", len(evs), err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkDecode1(b *testing.B)   { benchDecode(b, 1, benchBody(1, 100), Decode) }
func BenchmarkDecode100(b *testing.B) { benchDecode(b, 100, benchBody(100, 100), Decode) }

func BenchmarkDecode100Headers(b *testing.B) {
	parts := make([]string, 100)
	for i := range parts {
		parts[i] = `{"key":"user-` + strconv.Itoa(i) + `","value":{"n":` + strconv.Itoa(i) +
			`,"text":"hello world, caf\u00e9"},"headers":{"source":"checkout","trace":"abc123"},"timestamp":1767225600000}`
	}
	benchDecode(b, 100, []byte(`{"events":[`+strings.Join(parts, ",")+`]}`), Decode)
}

func BenchmarkDecodeNDJSON100(b *testing.B) {
	parts := make([]string, 100)
	for i := range parts {
		parts[i] = string(benchBody(1, 100))
	}
	benchDecode(b, 100, []byte(strings.Join(parts, "\n")), DecodeNDJSON)
}
