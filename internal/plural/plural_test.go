package plural

import "testing"

func TestNoun(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{
		{0, "0 brokers"}, {1, "1 broker"}, {2, "2 brokers"}, {-1, "-1 broker"}, {-3, "-3 brokers"},
	} {
		if got := Noun(c.n, "broker"); got != c.want {
			t.Errorf("Noun(%d) = %q, want %q", c.n, got, c.want)
		}
	}
	if got := Noun(int32(1), "in-sync replica"); got != "1 in-sync replica" {
		t.Errorf("int32: %q", got)
	}
}
