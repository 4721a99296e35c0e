package origin

import "testing"

func TestValidate(t *testing.T) {
	for _, o := range []string{"*", "https://app.example.com", "http://127.0.0.1:5173", "https://app.example.com/", "http://localhost:*", "http://[::1]:*"} {
		if err := Validate(o); err != nil {
			t.Errorf("Validate(%q) = %v, want nil", o, err)
		}
	}
	for _, o := range []string{"", "app.example.com", "ftp://x", "https://x/path", "https://x?q=1", "https://u@x", "https://", "http://localhost:3000:*", "http://:*", "localhost:*"} {
		if err := Validate(o); err == nil {
			t.Errorf("Validate(%q) = nil, want an error", o)
		}
	}
}

func TestAllowList(t *testing.T) {
	l := NewAllowList([]string{"https://App.example.com/", "http://localhost:3000", "http://127.0.0.1:*", "http://[::1]:*", "http://dev.local:*"})
	for origin, want := range map[string]bool{
		"http://127.0.0.1:8080":      true, // any port
		"http://127.0.0.1":           true,
		"http://[::1]:3000":          true,
		"http://DEV.local:5173":      true,
		"https://127.0.0.1:3000":     false, // another scheme
		"http://127.0.0.1.evil:3000": false,
		"http://evil.dev.local:3000": false,
		"http://127.0.0.1:3000/x":    false,
		"http://user@127.0.0.1:3000": false,
		"null":                       false,
		"https://app.example.com":    true,
		"HTTPS://APP.EXAMPLE.COM":    true,
		"http://localhost:3000":      true,
		"http://localhost:3001":      false,
		"https://evil.example":       false,
		"":                           false,
	} {
		if got := l.Allows(origin); got != want {
			t.Errorf("Allows(%q) = %v, want %v", origin, got, want)
		}
	}
	if !NewAllowList([]string{"*"}).Allows("https://anything.example") {
		t.Error(`"*" does not allow every origin`)
	}
	if (AllowList{}).Allows("https://app.example.com") {
		t.Error("the zero AllowList allows an origin")
	}
}

func TestSameOrigin(t *testing.T) {
	for _, c := range []struct {
		origin, host string
		want         bool
	}{
		{"http://127.0.0.1:8080", "127.0.0.1:8080", true},
		{"https://Runnel.example.com", "runnel.example.com", true}, // TLS ended by a proxy
		{"http://127.0.0.1:8080", "127.0.0.1:8081", false},
		{"http://127.0.0.1", "127.0.0.1:8080", false},
		{"http://evil.example", "runnel.example.com", false},
		{"http://127.0.0.1:8080/x", "127.0.0.1:8080", false},
		{"http://u@127.0.0.1:8080", "127.0.0.1:8080", false},
		{"ws://127.0.0.1:8080", "127.0.0.1:8080", false},
		{"null", "null", false},
		{"http://127.0.0.1:8080", "", false},
	} {
		if got := SameOrigin(c.origin, c.host); got != c.want {
			t.Errorf("SameOrigin(%q, %q) = %v, want %v", c.origin, c.host, got, c.want)
		}
	}
}
