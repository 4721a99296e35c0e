package main

import (
	"context"
	"flag"

	"github.com/runnel-dev/runnel/gateway/auth"
)

// tokenKeyFlags are the keys and claim rules tokens are verified with:
// the gateway's, and a broker's for SASL/OAUTHBEARER, so that one token
// works on both.
type tokenKeyFlags struct {
	jwtSecret     string
	jwtPublicKeys stringList
	jwks          string
	issuer        string
	audience      string
}

func (f *tokenKeyFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.jwtSecret, "jwt-secret", "", "HS256 `SECRET` tokens are signed with (at least 32 bytes; prefer RUNNEL_JWT_SECRET)")
	fs.Var(&f.jwtPublicKeys, "jwt-public-key", "PEM `FILE` of RS256, ES256 or EdDSA public keys (repeatable)")
	fs.StringVar(&f.jwks, "jwks", "", "JSON Web Key Set `FILE or URL`")
	fs.StringVar(&f.issuer, "jwt-issuer", "", "required token issuer (iss), when set")
	fs.StringVar(&f.audience, "jwt-audience", "", "required token audience (aud), when set")
}

// given reports whether any key flag was set.
func (f *tokenKeyFlags) given() bool {
	return f.jwtSecret != "" || len(f.jwtPublicKeys) > 0 || f.jwks != ""
}

// authConfig resolves the flags into a verifier config; defaultSecret is
// used when no key is given ("runnel dev"), and without one that is a
// usage error.
func (f *tokenKeyFlags) authConfig(ctx context.Context, defaultSecret []byte) (auth.Config, error) {
	var cfg auth.Config
	cfg.Issuer, cfg.Audience = f.issuer, f.audience
	if f.jwtSecret != "" {
		cfg.HS256Secret = []byte(f.jwtSecret)
	}
	for _, path := range f.jwtPublicKeys {
		keys, err := auth.LoadPublicKeysPEM(path)
		if err != nil {
			return cfg, usagef("--jwt-public-key %s: %v", path, err)
		}
		cfg.PublicKeys = append(cfg.PublicKeys, keys...)
	}
	if f.jwks != "" {
		set, err := auth.LoadJWKSFrom(ctx, f.jwks)
		if err != nil {
			return cfg, usagef("--jwks: %v", err)
		}
		cfg.JWKS = set
	}
	if len(cfg.HS256Secret) == 0 && len(cfg.PublicKeys) == 0 && cfg.JWKS == nil {
		if defaultSecret == nil {
			return cfg, usagef("no token keys: give --jwt-secret, --jwt-public-key or --jwks")
		}
		cfg.HS256Secret = defaultSecret
	}
	return cfg, nil
}
