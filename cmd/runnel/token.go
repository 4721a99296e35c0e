package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/runnel-dev/runnel/gateway/auth"
)

// patternList is a repeatable flag of topic patterns: each use adds one, or
// several separated by commas (commas cannot occur in topic names), so that
// an environment variable or config line can hold a list.
type patternList []string

func (l *patternList) String() string { return strings.Join(*l, ",") }

func (l *patternList) Set(v string) error {
	for p := range strings.SplitSeq(v, ",") {
		p = strings.TrimSpace(p)
		if err := auth.ValidatePattern(p); err != nil {
			return err
		}
		*l = append(*l, p)
	}
	return nil
}

// tokenCommand is "runnel token": mints a JWT the gateway accepts.
func tokenCommand() *command {
	var (
		secret, keyFile string
		opts            auth.MintOptions
		produce         patternList
		consume         patternList
	)
	return &command{
		name:    "token",
		summary: "mint a JWT for the gateway",
		help: `Mint a JSON Web Token for the gateway and print it on stdout. Sign it with the
gateway's HS256 secret (--secret) or with a private key (--key: a PEM file
holding an RSA key for RS256, a P-256 key for ES256 or an Ed25519 key for
EdDSA); exactly one of the two.

The token carries the permissions claim
  "runnel": {"admin": ..., "produce": [...], "consume": [...]}
Patterns are topic names with * as a wildcard matching any characters, dots
included: --produce 'chat.*' allows chat.room1 but not chat. --produce and
--consume may be repeated or given a comma-separated list.

Prefer RUNNEL_SECRET to --secret: a command line is visible to other users.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&secret, "secret", "", "HS256 `SECRET` to sign with (at least 32 bytes)")
			fs.StringVar(&keyFile, "key", "", "PEM private key `FILE` to sign with (RSA, EC P-256 or Ed25519)")
			fs.StringVar(&opts.Subject, "sub", "", "`SUBJECT` (sub claim): who the token is for")
			fs.BoolVar(&opts.Admin, "admin", false, "allow everything, topic administration included")
			fs.Var(&produce, "produce", "topic `PATTERN` the token may write to (repeatable)")
			fs.Var(&consume, "consume", "topic `PATTERN` the token may read from (repeatable)")
			fs.DurationVar(&opts.TTL, "ttl", time.Hour, "how long the token is valid")
			fs.StringVar(&opts.Issuer, "iss", "", "`ISSUER` (iss claim), for a gateway that checks it")
			fs.StringVar(&opts.Audience, "aud", "", "`AUDIENCE` (aud claim), for a gateway that checks it")
			fs.StringVar(&opts.KeyID, "kid", "", "key `ID` (kid header), for a gateway that picks keys from a JWKS")
		},
		run: func(ctx context.Context, inv *invocation) error {
			if (secret == "") == (keyFile == "") {
				return usagef("give exactly one of --secret and --key")
			}
			if opts.TTL < time.Second {
				return usagef("--ttl %v: want a duration of at least 1s, such as 1h", opts.TTL)
			}
			var m *auth.Minter
			var err error
			if secret != "" {
				if m, err = auth.NewSecretMinter([]byte(secret)); err != nil {
					return usagef("--secret: %v", err)
				}
			} else {
				key, err := auth.LoadPrivateKeyPEM(keyFile)
				if err != nil {
					return fmt.Errorf("--key: %w", err)
				}
				if m, err = auth.NewKeyMinter(key); err != nil {
					return fmt.Errorf("--key %s: %w", keyFile, err)
				}
			}
			opts.Produce, opts.Consume = produce, consume
			tok, err := m.Mint(opts)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(inv.stdout, tok)
			return err
		},
	}
}
