package recordbatchtest

import "strconv"

// TextValues returns n values of size bytes each: words and numbers from a
// small vocabulary in a fixed pseudo-random order, so that they compress
// about as well as JSON events do (2 to 3 times) and are the same on every
// run. Benchmarks use them where repeated bytes would compress absurdly.
func TextValues(n, size int) [][]byte {
	words := []string{"order", "id", "user", "amount", "currency", "EUR", "status", "paid", "shipped", "item", "sku", "qty", "price", "created_at", "{", "}", ":", ",", "\"", "true", "false", "null"}
	state := uint32(2463534242)
	next := func() uint32 { // xorshift32
		state ^= state << 13
		state ^= state >> 17
		state ^= state << 5
		return state
	}
	out := make([][]byte, n)
	for i := range out {
		v := make([]byte, 0, size+16)
		for len(v) < size {
			v = append(v, words[next()%uint32(len(words))]...)
			v = strconv.AppendUint(v, uint64(next()%1000), 10)
		}
		out[i] = v[:size]
	}
	return out
}
