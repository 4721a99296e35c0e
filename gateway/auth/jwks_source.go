package auth

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// maxJWKSBytes bounds a key set read from a URL.
const maxJWKSBytes = 1 << 20

// LoadJWKSFrom reads a JSON Web Key Set from a file or, when src starts
// with http:// or https://, from that URL (an identity provider's
// jwks_uri). A URL must answer 200 within ten seconds with at most 1 MiB.
func LoadJWKSFrom(ctx context.Context, src string) (*KeySet, error) {
	if !strings.HasPrefix(src, "http://") && !strings.HasPrefix(src, "https://") {
		return LoadJWKS(src)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return nil, fmt.Errorf("JWKS URL %q: %w", src, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWKS %s: HTTP %d", src, resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS %s: %w", src, err)
	}
	if len(data) > maxJWKSBytes {
		return nil, fmt.Errorf("fetch JWKS %s: larger than %d bytes", src, maxJWKSBytes)
	}
	s, err := ParseJWKS(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	return s, nil
}
