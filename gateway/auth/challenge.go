package auth

import "strings"

// Challenge is the WWW-Authenticate value that answers a bearer token
// that was given but refused (RFC 6750 section 3), msg saying why. msg is
// kept to the characters error_description may hold: printable ASCII but
// '"' and '\', each other one shown as '\”.
func Challenge(msg string) string {
	return `Bearer realm="runnel", error="invalid_token", error_description="` + strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '\''
		}
		return r
	}, msg) + `"`
}
