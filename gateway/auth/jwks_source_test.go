package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestLoadJWKSFrom(t *testing.T) {
	doc := jwksDoc(t, jwkOf(t, "r0", publicOf(rsaKey(t, 0))))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/jwks":
			w.Write(doc)
		case "/huge":
			w.Write([]byte(`{"keys":[` + strings.Repeat(" ", maxJWKSBytes) + `]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx := context.Background()

	set, err := LoadJWKSFrom(ctx, srv.URL+"/jwks")
	if err != nil || set.Len() != 1 {
		t.Fatalf("from URL: %v, %d keys", err, set.Len())
	}
	set, err = LoadJWKSFrom(ctx, writeFile(t, "jwks.json", doc))
	if err != nil || set.Len() != 1 {
		t.Fatalf("from file: %v, %d keys", err, set.Len())
	}
	for _, bad := range []string{srv.URL + "/missing", srv.URL + "/huge", "http://127.0.0.1:1/jwks"} {
		if _, err := LoadJWKSFrom(ctx, bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
