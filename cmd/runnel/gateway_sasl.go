package main

import (
	"flag"
	"strings"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// brokerSASLFlags are the gateway's own credentials on brokers' SASL
// listeners.
type brokerSASLFlags struct {
	mechanism string
	user      string
	password  string
	token     string
}

func (f *brokerSASLFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.mechanism, "broker-sasl-mechanism", "", "SASL `mechanism` the gateway authenticates to brokers with: "+
		"SCRAM-SHA-256, SCRAM-SHA-512, PLAIN (--broker-sasl-user, --broker-sasl-password) or OAUTHBEARER (--broker-sasl-token); none by default")
	fs.StringVar(&f.user, "broker-sasl-user", "", "the gateway's SASL user on brokers")
	fs.StringVar(&f.password, "broker-sasl-password", "", "the gateway's SASL password on brokers (prefer RUNNEL_BROKER_SASL_PASSWORD)")
	fs.StringVar(&f.token, "broker-sasl-token", "", "the gateway's OAUTHBEARER token on brokers, an admin token (prefer RUNNEL_BROKER_SASL_TOKEN)")
}

// mech returns the configured mechanism, nil without one.
func (f *brokerSASLFlags) mech() (sasl.Mechanism, error) {
	switch strings.ToUpper(f.mechanism) {
	case "":
		if f.user != "" || f.password != "" || f.token != "" {
			return nil, usagef("--broker-sasl-user, --broker-sasl-password or --broker-sasl-token need --broker-sasl-mechanism")
		}
		return nil, nil
	case "OAUTHBEARER":
		if f.token == "" {
			return nil, usagef("--broker-sasl-mechanism OAUTHBEARER needs --broker-sasl-token")
		}
		return oauth.Auth{Token: f.token}.AsMechanism(), nil
	case "SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN":
		if f.user == "" || f.password == "" {
			return nil, usagef("--broker-sasl-mechanism %s needs --broker-sasl-user and --broker-sasl-password", f.mechanism)
		}
		switch strings.ToUpper(f.mechanism) {
		case "SCRAM-SHA-256":
			return scram.Auth{User: f.user, Pass: f.password}.AsSha256Mechanism(), nil
		case "SCRAM-SHA-512":
			return scram.Auth{User: f.user, Pass: f.password}.AsSha512Mechanism(), nil
		}
		return plain.Auth{User: f.user, Pass: f.password}.AsMechanism(), nil
	}
	return nil, usagef("--broker-sasl-mechanism %q: want SCRAM-SHA-256, SCRAM-SHA-512, PLAIN or OAUTHBEARER", f.mechanism)
}
