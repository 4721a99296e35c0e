package main

import (
	"context"
	"flag"
	"strings"
	"time"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/broker/saslauth"
	"github.com/runnel-dev/runnel/gateway/auth"
)

// saslFlags turn the Kafka listener into a SASL one (Kafka's
// SASL_PLAINTEXT): clients authenticate, and every request is checked
// against the principal's permissions.
type saslFlags struct {
	mechanisms stringList
	maxReauth  time.Duration
	superUsers stringList
	keys       tokenKeyFlags
}

func (f *saslFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.mechanisms, "sasl-mechanisms", "SASL `mechanisms` the Kafka listener requires, comma-separated: OAUTHBEARER "+
		"(tokens verified with --jwt-secret, --jwt-public-key or --jwks, as the gateway does), SCRAM-SHA-256, SCRAM-SHA-512 "+
		"(users managed with AlterUserScramCredentials), PLAIN (the same users' passwords, offered on TLS connections only); none: no authentication")
	fs.Var(&f.superUsers, "super-users", "SCRAM `principals` (User:name,...) that may do everything (super.users)")
	fs.DurationVar(&f.maxReauth, "connections-max-reauth", 0, "connections.max.reauth.ms: longest a SASL session lasts before the client "+
		"must re-authenticate (0: until its token expires)")
	f.keys.register(fs)
}

// config returns the listener's SASL settings (nil without
// --sasl-mechanisms) and the SCRAM mechanisms, which the node adds to them
// backed by its metadata.
func (f *saslFlags) config(ctx context.Context) (*kafkaserver.SASLConfig, []string, error) {
	if len(f.mechanisms) == 0 {
		if f.keys.given() || len(f.superUsers) > 0 {
			return nil, nil, usagef("token keys or --super-users are given but no --sasl-mechanisms: add --sasl-mechanisms OAUTHBEARER or SCRAM-SHA-512")
		}
		return nil, nil, nil
	}
	if f.maxReauth < 0 {
		return nil, nil, usagef("--connections-max-reauth %v is negative", f.maxReauth)
	}
	for _, u := range f.superUsers {
		if name, ok := strings.CutPrefix(u, "User:"); !ok || name == "" {
			return nil, nil, usagef("--super-users: %q is not User:<name>", u)
		}
	}
	cfg := &kafkaserver.SASLConfig{MaxReauth: f.maxReauth}
	var scram []string
	oauth := false
	for _, name := range f.mechanisms {
		switch name = strings.ToUpper(name); name {
		case saslauth.OAuthBearerName:
			ac, err := f.keys.authConfig(ctx, nil)
			if err != nil {
				return nil, nil, err
			}
			v, err := auth.NewVerifier(ac)
			if err != nil {
				return nil, nil, usagef("OAUTHBEARER token keys: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
			}
			m, err := saslauth.NewOAuthBearer(v)
			if err != nil {
				return nil, nil, err
			}
			cfg.Mechanisms, oauth = append(cfg.Mechanisms, m), true
		case saslauth.SCRAMSHA256, saslauth.SCRAMSHA512, saslauth.PlainName:
			scram = append(scram, name)
		default:
			return nil, nil, usagef("--sasl-mechanisms: %q is not supported; the broker offers OAUTHBEARER, SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN", name)
		}
	}
	if !oauth && f.keys.given() {
		return nil, nil, usagef("token keys are given but OAUTHBEARER is not in --sasl-mechanisms")
	}
	// The node adds the SCRAM mechanisms to cfg.
	return cfg, scram, nil
}
