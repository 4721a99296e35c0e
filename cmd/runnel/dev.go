package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/gateway"
	"github.com/runnel-dev/runnel/gateway/auth"
)

// devTokenTTL is how long the admin token "runnel dev" prints stays valid.
const devTokenTTL = 30 * 24 * time.Hour

// devAllowedOrigins are the browser origins "runnel dev" allows unless
// --allowed-origins says otherwise: apps served from this machine, on any
// port (a dev server on http://localhost:3000 or :5173, say).
var devAllowedOrigins = []string{"http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*", "https://localhost:*", "https://127.0.0.1:*"}

// devCommand is "runnel dev": everything in one process.
func devCommand() *command {
	var bf brokerFlags
	var gf gatewayFlags
	var grf groupFlags
	var tf tierFlags
	return &command{
		name:    "dev",
		summary: "run everything in one process, for development",
		help: `Run a one-node Runnel in one process: a single-voter raft group, one broker and
its logs, and the gateway (REST and WebSocket on --http). Data lives in
--data-dir and survives restarts. Topics a client names are created on first
use (--auto-create-topics=false turns that off), so "kcat -P -t orders" just
works.

Tokens are signed with a secret kept in the data directory (dev-jwt-secret),
made on first start, unless --jwt-secret or other keys are given; the admin
token printed at start is valid for 30 days. Mint others with
"runnel token --secret $(cat runnel-data/dev-jwt-secret) ...".

Browser apps served from this machine (http://localhost, 127.0.0.1 or [::1],
any port) may call the API and open WebSockets; --allowed-origins replaces
that list.`,
		flags: func(fs *flag.FlagSet) {
			bf.register(fs, "./runnel-data", "127.0.0.1:9092", true)
			bf.registerMetrics(fs)
			gf.register(fs, "127.0.0.1:8080")
			grf.register(fs)
			tf.register(fs)
		},
		run: func(ctx context.Context, inv *invocation) error {
			groups, err := grf.config()
			if err != nil {
				return err
			}
			log, err := bf.logger(inv)
			if err != nil {
				return err
			}
			tier, err := tf.config(log)
			if err != nil {
				return err
			}
			if bf.pprof && bf.metrics == "" {
				return usagef("--pprof serves on the --metrics address: give --metrics too")
			}
			secret, err := loadOrCreateDevSecret(bf.dataDir)
			if err != nil {
				return err
			}
			reg := newMetricsRegistry()
			ncfg := broker.NodeConfig{
				ID: 1, DataDir: bf.dataDir, AdminListen: bf.admin,
				RaftListen: "127.0.0.1:0", Voters: map[uint64]string{1: "127.0.0.1:0"},
				AutoCreateTopics: bf.autoCreate, StartFreshMetadata: bf.startFresh, Logger: log, Metrics: reg, Groups: groups,
				Tier: tier, RetentionCheckInterval: tf.retentionCheck,
			}
			stls, err := gf.serverTLS(log)
			if err != nil {
				return err
			}
			if err := bf.applyListeners(&ncfg, stls); err != nil {
				return err
			}
			node, err := broker.StartNode(ncfg)
			if err != nil {
				return err
			}
			if bf.metrics != "" {
				stop, err := serveMetrics(bf.metrics, reg, bf.pprof, node.Broker.TierHandler(), log)
				if err != nil {
					return errors.Join(err, node.Close())
				}
				defer stop()
			}
			if len(gf.allowedOrigins) == 0 {
				gf.allowedOrigins = devAllowedOrigins
			}
			gcfg, err := gf.config(ctx, []string{devGatewayBroker(node, ncfg)}, secret)
			if err != nil {
				return errors.Join(err, node.Close())
			}
			gcfg.Logger, gcfg.Registry = log, reg
			stores, err := gf.openTLS(&gcfg, log)
			if err != nil {
				return errors.Join(err, node.Close())
			}
			defer reloadOnHUP(ctx, log, stores...)()
			// /readyz is 503 until every partition this broker should lead
			// is open and leading here, naming the ones that are not.
			gcfg.Ready = node.Broker.Ready
			// Its produces and tail reads are function calls into the
			// broker, not Kafka requests over loopback.
			gcfg.LocalBroker = node.Broker
			gw, err := gateway.Start(ctx, gcfg)
			if err != nil {
				return errors.Join(fmt.Errorf("start the gateway: %w", err), node.Close())
			}
			token, err := devAdminToken(gcfg.Auth)
			if err != nil {
				return errors.Join(err, gw.Close(), node.Close())
			}
			fmt.Fprintf(inv.stdout, `Runnel dev is running.
  HTTP + WebSocket: %s   (API: %s/openapi.yaml, WebSocket: %s/v1/ws)
  Console:          %s   (log in with the admin token below)
  Kafka:            %s   (try: kcat -b %s -L)
  Data dir:         %s
  Allowed origins:  %s   (browser apps; set with --allowed-origins)
  Security:         %s
  Admin token:      %s
Try:
  export TOKEN=%s
  curl -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"name": "demo", "partitions": 3}' %s/v1/topics
  curl -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"value": {"hello": "world"}}' %s/v1/topics/demo/events
Press Ctrl-C to stop.
`, gw.URL(), gw.URL(), wsURLOf(gw.URL()), gw.ConsoleURL(), node.KafkaAddr(), node.KafkaAddr(), bf.dataDir, strings.Join(gcfg.AllowedOrigins, ", "), devSecurity(gcfg, ncfg), token, token, gw.URL(), gw.URL())
			<-ctx.Done()
			log.Info("shutting down")
			return errors.Join(gw.Close(), node.Close())
		},
	}
}

// devAdminToken mints the admin token "runnel dev" prints, or says none can
// be printed because the gateway verifies with keys dev does not hold.
func devAdminToken(ac auth.Config) (string, error) {
	if len(ac.HS256Secret) == 0 {
		return "(none: the gateway checks public keys; mint tokens with your private key)", nil
	}
	m, err := auth.NewSecretMinter(ac.HS256Secret)
	if err != nil {
		return "", err
	}
	return m.Mint(auth.MintOptions{Subject: "dev-admin", Admin: true, TTL: devTokenTTL, Issuer: ac.Issuer, Audience: ac.Audience})
}

// devSecurity says what "runnel dev" secures and how to secure the rest.
func devSecurity(g gateway.Config, n broker.NodeConfig) string {
	var on []string
	if g.TLS != nil {
		on = append(on, "HTTPS/WSS")
	}
	for _, l := range n.Listeners {
		if l.Protocol.UsesTLS() {
			on = append(on, "Kafka listener "+l.Name+" over TLS")
		}
	}
	if len(on) > 0 {
		return strings.Join(on, ", ")
	}
	return "off, plaintext on loopback only. For TLS add --tls-cert FILE --tls-key FILE (HTTPS) and " +
		"--listeners PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9094 (Kafka); runnel broker secures every port (README: Security) " +
		"and authenticates Kafka clients with --sasl-mechanisms OAUTHBEARER,SCRAM-SHA-512 (README: SASL on the Kafka port)"
}

// devGatewayBroker is the listener the in-process gateway connects to: the
// first PLAINTEXT one, else the first (an SSL one needs --broker-ca).
func devGatewayBroker(node *broker.Node, cfg broker.NodeConfig) string {
	for _, l := range cfg.Listeners {
		if l.Protocol == broker.Plaintext {
			return node.ListenerAddr(l.Name)
		}
	}
	return node.KafkaAddr()
}

func wsURLOf(httpURL string) string { return "ws" + httpURL[len("http"):] }
