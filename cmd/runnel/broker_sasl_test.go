package main

import (
	"context"
	"flag"
	"io"
	"strings"
	"testing"
)

func TestSASLFlags(t *testing.T) {
	parse := func(args ...string) (*saslFlags, error) {
		var f saslFlags
		fs := flag.NewFlagSet("broker", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		f.register(fs)
		return &f, fs.Parse(args)
	}
	secret := "--jwt-secret=" + strings.Repeat("s", 32)
	for name, tc := range map[string]struct {
		args  []string
		mechs []string // nil: no SASL
		err   string
	}{
		"none":         {nil, nil, ""},
		"oauthbearer":  {[]string{"--sasl-mechanisms", "oauthbearer", secret, "--connections-max-reauth", "1m"}, []string{"OAUTHBEARER"}, ""},
		"no keys":      {[]string{"--sasl-mechanisms", "OAUTHBEARER"}, nil, "no token keys"},
		"short secret": {[]string{"--sasl-mechanisms", "OAUTHBEARER", "--jwt-secret", "short"}, nil, "at least 32"},
		"keys alone":   {[]string{secret}, nil, "no --sasl-mechanisms"},
		"unknown":      {[]string{"--sasl-mechanisms", "GSSAPI", secret}, nil, `"GSSAPI" is not supported`},
		"scram":        {[]string{"--sasl-mechanisms", "scram-sha-512,SCRAM-SHA-256", "--super-users", "User:root"}, []string{"SCRAM-SHA-512", "SCRAM-SHA-256"}, ""},
		"both":         {[]string{"--sasl-mechanisms", "OAUTHBEARER,SCRAM-SHA-512", secret}, []string{"OAUTHBEARER", "SCRAM-SHA-512"}, ""},
		"bad super":    {[]string{"--sasl-mechanisms", "SCRAM-SHA-512", "--super-users", "root"}, nil, "not User:<name>"},
		"scram keys":   {[]string{"--sasl-mechanisms", "SCRAM-SHA-512", secret}, nil, "OAUTHBEARER is not in"},
	} {
		f, err := parse(tc.args...)
		if err != nil {
			t.Fatalf("%s: parse: %v", name, err)
		}
		cfg, scram, err := f.config(context.Background())
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one saying %q", name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		var got []string
		if cfg != nil {
			for _, m := range cfg.Mechanisms {
				got = append(got, m.Name())
			}
		}
		got = append(got, scram...)
		if strings.Join(got, ",") != strings.Join(tc.mechs, ",") {
			t.Errorf("%s: mechanisms %v, want %v", name, got, tc.mechs)
		}
	}
}

func TestBrokerSASLFlagsOfTheGateway(t *testing.T) {
	for name, tc := range map[string]struct {
		f    brokerSASLFlags
		mech string // "" for none
		err  string
	}{
		"none":        {brokerSASLFlags{prefix: "broker-sasl"}, "", ""},
		"scram":       {brokerSASLFlags{prefix: "broker-sasl", mechanism: "scram-sha-512", user: "gw", password: "p"}, "SCRAM-SHA-512", ""},
		"plain":       {brokerSASLFlags{prefix: "broker-sasl", mechanism: "PLAIN", user: "gw", password: "p"}, "PLAIN", ""},
		"token":       {brokerSASLFlags{prefix: "broker-sasl", mechanism: "OAUTHBEARER", token: "t"}, "OAUTHBEARER", ""},
		"no password": {brokerSASLFlags{prefix: "broker-sasl", mechanism: "SCRAM-SHA-256", user: "gw"}, "", "needs --broker-sasl-user and --broker-sasl-password"},
		"no token":    {brokerSASLFlags{prefix: "peer-sasl", mechanism: "OAUTHBEARER"}, "", "needs --peer-sasl-token"},
		"orphan user": {brokerSASLFlags{prefix: "peer-sasl", user: "gw"}, "", "need --peer-sasl-mechanism"},
		"unknown":     {brokerSASLFlags{prefix: "broker-sasl", mechanism: "GSSAPI", user: "u", password: "p"}, "", "want SCRAM-SHA-256"},
	} {
		m, err := tc.f.mech()
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want an error saying %q", name, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: %v", name, err)
		case tc.mech == "" && m != nil, tc.mech != "" && (m == nil || m.Name() != tc.mech):
			t.Errorf("%s: mechanism %v, want %q", name, m, tc.mech)
		}
	}
}
