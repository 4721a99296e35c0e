package main

import (
	"flag"
	"strings"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// brokerSASLFlags are a client's own credentials on brokers' SASL
// listeners: the gateway's (--broker-sasl-*) and a broker's replica
// fetchers' on their leaders (--peer-sasl-*).
type brokerSASLFlags struct {
	prefix    string // "broker-sasl" or "peer-sasl"
	mechanism string
	user      string
	password  string
	token     string
}

// register adds the flags named prefix-mechanism, prefix-user,
// prefix-password and prefix-token; who says whose credential they are.
func (f *brokerSASLFlags) register(fs *flag.FlagSet, prefix, who string) {
	f.prefix = prefix
	env := "RUNNEL_" + strings.ToUpper(strings.ReplaceAll(prefix, "-", "_"))
	fs.StringVar(&f.mechanism, prefix+"-mechanism", "", "SASL `mechanism` "+who+" authenticate(s) to brokers with: "+
		"SCRAM-SHA-256, SCRAM-SHA-512, PLAIN (--"+prefix+"-user, --"+prefix+"-password) or OAUTHBEARER (--"+prefix+"-token); none by default")
	fs.StringVar(&f.user, prefix+"-user", "", "SASL user of "+who)
	fs.StringVar(&f.password, prefix+"-password", "", "SASL password of "+who+" (prefer "+env+"_PASSWORD)")
	fs.StringVar(&f.token, prefix+"-token", "", "OAUTHBEARER token of "+who+", an admin token (prefer "+env+"_TOKEN)")
}

// mech returns the configured mechanism, nil without one.
func (f *brokerSASLFlags) mech() (sasl.Mechanism, error) {
	switch strings.ToUpper(f.mechanism) {
	case "":
		if f.user != "" || f.password != "" || f.token != "" {
			return nil, usagef("--%[1]s-user, --%[1]s-password or --%[1]s-token need --%[1]s-mechanism", f.prefix)
		}
		return nil, nil
	case "OAUTHBEARER":
		if f.token == "" {
			return nil, usagef("--%[1]s-mechanism OAUTHBEARER needs --%[1]s-token", f.prefix)
		}
		return oauth.Auth{Token: f.token}.AsMechanism(), nil
	case "SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN":
		if f.user == "" || f.password == "" {
			return nil, usagef("--%[1]s-mechanism %[2]s needs --%[1]s-user and --%[1]s-password", f.prefix, f.mechanism)
		}
		switch strings.ToUpper(f.mechanism) {
		case "SCRAM-SHA-256":
			return scram.Auth{User: f.user, Pass: f.password}.AsSha256Mechanism(), nil
		case "SCRAM-SHA-512":
			return scram.Auth{User: f.user, Pass: f.password}.AsSha512Mechanism(), nil
		}
		return plain.Auth{User: f.user, Pass: f.password}.AsMechanism(), nil
	}
	return nil, usagef("--%s-mechanism %q: want SCRAM-SHA-256, SCRAM-SHA-512, PLAIN or OAUTHBEARER", f.prefix, f.mechanism)
}
