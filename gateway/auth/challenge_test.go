package auth

import "testing"

func TestChallenge(t *testing.T) {
	got := Challenge("token \"expired\" at 12:00\n\\ é")
	want := `Bearer realm="runnel", error="invalid_token", error_description="token 'expired' at 12:00'' '"`
	if got != want {
		t.Fatalf("Challenge = %s\nwant        %s", got, want)
	}
}
