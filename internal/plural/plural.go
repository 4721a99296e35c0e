// Package plural writes counts in messages people read: "1 broker",
// "3 brokers", never "1 brokers".
package plural

import "strconv"

// Noun returns n and the noun, in the plural (singular plus "s") unless n is
// 1 or -1. Every noun Runnel counts in messages has a regular plural.
func Noun[N ~int | ~int8 | ~int16 | ~int32 | ~int64](n N, singular string) string {
	s := strconv.FormatInt(int64(n), 10) + " " + singular
	if n != 1 && n != -1 {
		s += "s"
	}
	return s
}
