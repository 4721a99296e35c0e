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
	keys       tokenKeyFlags
}

func (f *saslFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.mechanisms, "sasl-mechanisms", "SASL `mechanisms` the Kafka listener requires, comma-separated: OAUTHBEARER "+
		"(tokens verified with --jwt-secret, --jwt-public-key or --jwks, as the gateway does); none: no authentication")
	fs.DurationVar(&f.maxReauth, "connections-max-reauth", 0, "connections.max.reauth.ms: longest a SASL session lasts before the client "+
		"must re-authenticate (0: until its token expires)")
	f.keys.register(fs)
}

// config returns the listener's SASL settings, nil without --sasl-mechanisms.
func (f *saslFlags) config(ctx context.Context) (*kafkaserver.SASLConfig, error) {
	if len(f.mechanisms) == 0 {
		if f.keys.given() {
			return nil, usagef("token keys are given but no --sasl-mechanisms: add --sasl-mechanisms OAUTHBEARER to require them")
		}
		return nil, nil
	}
	if f.maxReauth < 0 {
		return nil, usagef("--connections-max-reauth %v is negative", f.maxReauth)
	}
	cfg := &kafkaserver.SASLConfig{MaxReauth: f.maxReauth}
	for _, name := range f.mechanisms {
		switch strings.ToUpper(name) {
		case saslauth.OAuthBearerName:
			ac, err := f.keys.authConfig(ctx, nil)
			if err != nil {
				return nil, err
			}
			v, err := auth.NewVerifier(ac)
			if err != nil {
				return nil, usagef("OAUTHBEARER token keys: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
			}
			m, err := saslauth.NewOAuthBearer(v)
			if err != nil {
				return nil, err
			}
			cfg.Mechanisms = append(cfg.Mechanisms, m)
		default:
			return nil, usagef("--sasl-mechanisms: %q is not supported; the broker offers OAUTHBEARER", name)
		}
	}
	return cfg, nil
}
