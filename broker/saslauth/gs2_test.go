package saslauth

import (
	"errors"
	"strings"
	"testing"
)

func TestParseOAuthMessage(t *testing.T) {
	good := "n,,\x01auth=Bearer tok.en.x\x01\x01"
	m, err := parseOAuthMessage([]byte(good))
	if err != nil || m.token != "tok.en.x" || m.authzid != "" {
		t.Fatalf("%q: %+v, %v", good, m, err)
	}
	withZid := "y,a=al=2Cice=3D,\x01host=h\x01auth=bearer t\x01port=9\x01\x01"
	m, err = parseOAuthMessage([]byte(withZid))
	if err != nil || m.token != "t" || m.authzid != "al,ice=" || m.extensions["host"] != "h" || m.extensions["port"] != "9" {
		t.Fatalf("%q: %+v, %v", withZid, m, err)
	}
	for msg, want := range map[string]string{
		"":                             "no GS2 header",
		"x,,\x01auth=Bearer t\x01\x01": "want \"n\"",
		"p=tls-unique,,\x01auth=Bearer t\x01\x01":                                 "channel binding",
		"n,\x01auth=Bearer t\x01\x01":                                             "not closed",
		"n,b=x,\x01auth=Bearer t\x01\x01":                                         "authorization id",
		"n,a=x=41,\x01auth=Bearer t\x01\x01":                                      "2C or 3D",
		"n,,auth=Bearer t\x01\x01":                                                "separated by 0x01",
		"n,,\x01auth=Bearer t\x01":                                                "separated by 0x01",
		"n,,\x01host=h\x01\x01":                                                   "no \"auth\"",
		"n,,\x01auth=Basic t\x01\x01":                                             "Bearer <token>",
		"n,,\x01auth=Bearer \x01\x01":                                             "Bearer <token>",
		"n,,\x01auth=Bearer a\x01auth=Bearer b\x01\x01":                           "twice",
		"n,,\x01h=1\x01h=2\x01auth=Bearer a\x01\x01":                              "twice",
		"n,,\x01=v\x01auth=Bearer a\x01\x01":                                      "without a key",
		"n,,\x01k1=v\x01auth=Bearer a\x01\x01":                                    "other than letters",
		"n,,\x01auth=Bearer " + strings.Repeat("a", maxOAuthMessage) + "\x01\x01": "at most",
	} {
		_, err := parseOAuthMessage([]byte(msg))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one saying %q", msg, err, want)
		}
		if strings.HasPrefix(msg, "p=") && !errors.Is(err, errNoChannelBinding) {
			t.Errorf("%q: error %v, want errNoChannelBinding", msg, err)
		}
	}
}

// FuzzOAuthMessage feeds arbitrary client messages to the GS2 parser: it
// must never panic, and what it accepts must carry a token and survive
// being written back and parsed again.
func FuzzOAuthMessage(f *testing.F) {
	for _, s := range []string{
		"n,,\x01auth=Bearer a.b.c\x01\x01",
		"y,a=user=2C,\x01host=x\x01auth=Bearer t\x01\x01",
		"n,a=,\x01\x01",
		"p=x,,\x01\x01",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		m, err := parseOAuthMessage(msg)
		if err != nil {
			return
		}
		if m.token == "" || strings.ContainsRune(m.token, '\x01') {
			t.Fatalf("accepted %q with token %q", msg, m.token)
		}
		again := "n,,\x01auth=Bearer " + m.token + "\x01\x01"
		m2, err := parseOAuthMessage([]byte(again))
		if err != nil || m2.token != m.token {
			t.Fatalf("token %q of %q does not round-trip: %v", m.token, msg, err)
		}
	})
}
