package auth

import (
	"regexp"
	"strings"
	"testing"
)

func TestAuthMatchPattern(t *testing.T) {
	for _, tc := range []struct {
		pattern, topic string
		want           bool
	}{
		{"orders", "orders", true},
		{"orders", "orders2", false},
		{"orders", "order", false},
		{"orders", "Orders", false},
		{"chat.*", "chat.room1", true},
		{"chat.*", "chat.a.b", true},
		{"chat.*", "chat.", true},
		{"chat.*", "chat", false},
		{"chat.*", "chatroom", false},
		{"*", "anything", true},
		{"*", "a.b-c_d", true},
		{"*", "", false}, // no topic has an empty name
		{"*.events", "orders.events", true},
		{"*.events", "events", false},
		{"a*b*c", "abc", true},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"a*b*c", "acb", false},
		{"**", "x", true},
		{"a.b", "aXb", false}, // the dot is literal
		// Invalid patterns match nothing, not even themselves.
		{"", "", false},
		{"a b", "a b", false},
		{"chat.?", "chat.?", false},
		{"chat/*", "chat/x", false},
		{"[a]", "[a]", false},
		{strings.Repeat("a", 250), strings.Repeat("a", 250), false},
	} {
		if got := MatchPattern(tc.pattern, tc.topic); got != tc.want {
			t.Errorf("MatchPattern(%q, %q) = %v, want %v", tc.pattern, tc.topic, got, tc.want)
		}
	}
}

func TestAuthPrincipalPermissions(t *testing.T) {
	p := &Principal{Produce: []string{"orders", "chat.*", "bad pattern"}, Consume: []string{"*"}}
	for topic, want := range map[string]bool{"orders": true, "chat.room1": true, "chat": false, "bad pattern": false, "payments": false} {
		if got := p.CanProduce(topic); got != want {
			t.Errorf("CanProduce(%q) = %v, want %v", topic, got, want)
		}
	}
	if !p.CanConsume("payments") || !p.CanConsume("chat.x") || p.IsAdmin() {
		t.Errorf("consume '*' or admin wrong for %+v", p)
	}
	admin := &Principal{Admin: true}
	if !admin.IsAdmin() || !admin.CanProduce("x") || !admin.CanConsume("y") {
		t.Error("admin may not do everything")
	}
	var none *Principal
	if none.IsAdmin() || none.CanProduce("x") || none.CanConsume("x") {
		t.Error("nil principal has permissions")
	}
	if (&Principal{}).CanProduce("x") {
		t.Error("empty principal may produce")
	}
}

// FuzzAuthMatchPattern compares the matcher with a regular expression built
// from the pattern.
func FuzzAuthMatchPattern(f *testing.F) {
	f.Add("chat.*", "chat.room1")
	f.Add("a*b*c", "aXbYc")
	f.Add("*a*a*a*a*", "aaaaaaaaaaaaaaaaaaaaaaab")
	f.Fuzz(func(t *testing.T, pattern, topic string) {
		want := false
		if topic != "" && ValidatePattern(pattern) == nil {
			parts := strings.Split(pattern, "*")
			for i, s := range parts {
				parts[i] = regexp.QuoteMeta(s)
			}
			want = regexp.MustCompile(`^(?s:` + strings.Join(parts, ".*") + `)$`).MatchString(topic)
		}
		if got := MatchPattern(pattern, topic); got != want {
			t.Fatalf("MatchPattern(%q, %q) = %v, want %v", pattern, topic, got, want)
		}
	})
}

func BenchmarkMatchPattern(b *testing.B) {
	topic := "chat.region-eu.room-12345.messages"
	for b.Loop() {
		if !MatchPattern("chat.*.room-*.messages", topic) {
			b.Fatal("no match")
		}
	}
}
