// Package origin is the allow-list of browser origins that the gateway's
// REST CORS answers and its WebSocket Origin check share, so that one list
// means the same to both.
package origin

import (
	"fmt"
	"net/url"
	"strings"
)

// Validate says why o is not an origin ("scheme://host[:port]", http or
// https) or "*".
func Validate(o string) error {
	if o == "*" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return fmt.Errorf("allowed origin %q is not an origin: want scheme://host[:port], such as https://app.example.com, or *", o)
	}
	return nil
}

// AllowList is a set of allowed origins; "*" allows every one. The zero
// value allows none.
type AllowList struct {
	any     bool
	origins map[string]bool // lower case, without a trailing slash
}

// NewAllowList returns the list of origins, each checked by Validate
// beforehand. Case and a trailing slash do not matter.
func NewAllowList(origins []string) AllowList {
	l := AllowList{origins: map[string]bool{}}
	for _, o := range origins {
		if o == "*" {
			l.any = true
		}
		l.origins[strings.ToLower(strings.TrimSuffix(o, "/"))] = true
	}
	return l
}

// Allows reports whether a request's Origin header value is allowed.
func (l AllowList) Allows(origin string) bool {
	return l.any || l.origins[strings.ToLower(origin)]
}
