// Package origin is the allow-list of browser origins that the gateway's
// REST CORS answers and its WebSocket Origin check share, so that one list
// means the same to both.
package origin

import (
	"fmt"
	"net/url"
	"strings"
)

// anyPort ends an allowed origin that matches its scheme and host on any
// port, or none: "http://localhost:*".
const anyPort = ":*"

// Validate says why o is not an origin ("scheme://host[:port]", http or
// https), an origin on any port ("scheme://host:*") or "*".
func Validate(o string) error {
	if o == "*" {
		return nil
	}
	u, err := url.Parse(strings.TrimSuffix(strings.TrimSuffix(o, "/"), anyPort))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil ||
		strings.HasSuffix(o, anyPort) && u.Port() != "" {
		return fmt.Errorf("allowed origin %q is not an origin: want scheme://host[:port], such as https://app.example.com, scheme://host:* for any port, or *", o)
	}
	return nil
}

// AllowList is a set of allowed origins; "*" allows every one. The zero
// value allows none.
type AllowList struct {
	any      bool
	origins  map[string]bool // lower case, without a trailing slash
	anyPorts map[string]bool // scheme://host of the "scheme://host:*" entries, lower case
}

// NewAllowList returns the list of origins, each checked by Validate
// beforehand. Case and a trailing slash do not matter.
func NewAllowList(origins []string) AllowList {
	l := AllowList{origins: map[string]bool{}, anyPorts: map[string]bool{}}
	for _, o := range origins {
		o = strings.ToLower(strings.TrimSuffix(o, "/"))
		switch {
		case o == "*":
			l.any = true
		case strings.HasSuffix(o, anyPort):
			l.anyPorts[strings.TrimSuffix(o, anyPort)] = true
		default:
			l.origins[o] = true
		}
	}
	return l
}

// Allows reports whether a request's Origin header value is allowed.
func (l AllowList) Allows(origin string) bool {
	if l.any {
		return true
	}
	origin = strings.ToLower(origin)
	if l.origins[origin] {
		return true
	}
	if len(l.anyPorts) == 0 {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
		return false
	}
	host := strings.TrimSuffix(u.Host, ":"+u.Port()) // "[::1]" of "[::1]:3000"
	return l.anyPorts[u.Scheme+"://"+host]
}

// Refusal is the message of the 403 a request from a disallowed origin
// gets, over REST and WebSocket alike.
func Refusal(origin string) string {
	return fmt.Sprintf("origin %q is not allowed: add it to the gateway's --allowed-origins (comma-separated origins, such as https://app.example.com or http://localhost:*)", origin)
}

// SameOrigin reports whether a request's Origin header value names the
// host the request was sent to (its Host header): a page the gateway
// served itself, such as the web console, which needs no allow-list entry.
// The scheme is not compared: behind a TLS-terminating proxy the gateway
// sees plain HTTP for an https origin.
func SameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || host == "" || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil ||
		(u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	return strings.EqualFold(u.Host, host)
}
