package main

import (
	"context"
	"crypto/tls"
	"flag"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/raftmeta/controller"
)

// brokerFlags are the settings shared by "runnel broker" and "runnel dev".
type brokerFlags struct {
	dataDir    string
	kafka      string
	kafkaDef   string // --kafka's default
	advertise  string
	lf         listenerFlags
	admin      string
	autoCreate bool
	logLevel   string
	startFresh bool
	metrics    string // "runnel broker --metrics"
	pprof      bool   // "runnel broker --pprof"
}

func (f *brokerFlags) register(fs *flag.FlagSet, dataDir, kafka string, autoCreate bool) {
	fs.StringVar(&f.dataDir, "data-dir", dataDir, "directory for partition logs and raft state")
	f.kafkaDef = kafka
	fs.StringVar(&f.kafka, "kafka", kafka, "Kafka protocol listen `address` (one PLAINTEXT listener; see --listeners for more)")
	f.lf.register(fs)
	fs.StringVar(&f.advertise, "advertise", "", "Kafka `address` clients are told to use (default: the listen address)")
	fs.StringVar(&f.admin, "admin-addr", "", "admin listener `address` (Kafka protocol, no authentication: bind it to 127.0.0.1): the only listener "+
		"that serves AddRaftVoter and RemoveRaftVoter (runnel admin voters); default: none")
	fs.BoolVar(&f.autoCreate, "auto-create-topics", autoCreate, "create topics that Metadata requests name (auto.create.topics.enable)")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&f.startFresh, "start-fresh-metadata", false, "when the cluster metadata in DATA-DIR/meta is missing or empty but partition data exists, "+
		"start new metadata anyway, renaming every partition directory <dir>.<hex>-stray (kept, never served or removed); without it the broker refuses to start")
}

// applyListeners sets cfg's Kafka listeners: those of --listeners (SSL
// ones with tlsCfg), or the one PLAINTEXT listener of --kafka and
// --advertise.
func (f *brokerFlags) applyListeners(cfg *broker.NodeConfig, tlsCfg *tls.Config) error {
	if !f.lf.set() {
		cfg.KafkaListen, cfg.Advertise = f.kafka, f.advertise
		return nil
	}
	if f.kafka != f.kafkaDef || f.advertise != "" {
		return usagef("--listeners replaces --kafka and --advertise: give one form")
	}
	ls, err := f.lf.config(tlsCfg)
	if err != nil {
		return err
	}
	cfg.Listeners, cfg.InterBrokerListener = ls, strings.ToUpper(f.lf.interBroker)
	return nil
}

// interBrokerListener is the listener of cfg other brokers fetch from
// (the first, unless named).
func interBrokerListener(cfg broker.NodeConfig) broker.ListenerConfig {
	for _, l := range cfg.Listeners {
		if l.Name == cfg.InterBrokerListener {
			return l
		}
	}
	if len(cfg.Listeners) > 0 {
		return cfg.Listeners[0]
	}
	return broker.ListenerConfig{Protocol: broker.Plaintext}
}

func (f *brokerFlags) logger(inv *invocation) (*slog.Logger, error) {
	return parseLogger(inv, f.logLevel)
}

// parseLogger returns a text logger on stderr at the --log-level given.
func parseLogger(inv *invocation, logLevel string) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", logLevel)
	}
	return slog.New(slog.NewTextHandler(inv.stderr, &slog.HandlerOptions{Level: level})), nil
}

// brokerCommand is "runnel broker": one broker node of a cluster.
func brokerCommand() *command {
	var bf brokerFlags
	var gf groupFlags
	var tf tierFlags
	var id int
	var raft, voters, rack, peers string
	var clusterID uint64
	var lagMax time.Duration
	var minISR int
	var rebalance controller.Rebalance
	var autoRebalance bool
	var cleaner broker.CleanerConfig
	var cleanerEnable bool
	var serverTLS, peerTLS tlsFiles
	var insecure bool
	var sf saslFlags
	var peer brokerSASLFlags
	return &command{
		name:    "broker",
		summary: "run one broker node of a cluster",
		help: `Run one broker: the Kafka protocol server, its partition logs, and its member of
the raft group that holds the cluster metadata. Nodes listed in --voters vote;
any other node joins as a learner. Data survives restarts.`,
		flags: func(fs *flag.FlagSet) {
			bf.register(fs, "./runnel-data", "127.0.0.1:9092", false)
			bf.registerMetrics(fs)
			gf.register(fs)
			tf.register(fs)
			serverTLS.register(fs, "tls-", "tls-client-ca", "certificate of the SSL listeners",
				"require client certificates signed by these CAs on the SSL listeners")
			peerTLS.register(fs, "peer-tls-", "peer-ca", "this broker's certificate for mutual TLS with its peers (raft, and replica fetches "+
				"when the inter-broker listener is SSL)", "the cluster CA: raft peers and replica fetchers must present certificates it signed")
			fs.BoolVar(&insecure, "insecure", false, "serve a PLAINTEXT Kafka listener, the raft listener without --peer-ca, or the admin listener "+
				"on a non-loopback address (anyone who reaches them has full access)")
			fs.IntVar(&id, "id", 0, "broker and raft node `id` (> 0), unique in the cluster")
			sf.register(fs)
			peer.register(fs, "peer-sasl", "this broker's replica fetchers (a super user) on their leaders' SASL listeners")
			fs.StringVar(&raft, "raft", "127.0.0.1:9093", "raft listen `address`")
			fs.StringVar(&voters, "voters", "", "raft voters as `id@host:port,...` (required)")
			fs.StringVar(&rack, "rack", "", "rack of this broker, for replica placement")
			fs.Uint64Var(&clusterID, "cluster-id", 1, "raft cluster `number`: raft peers of another number are refused (Kafka clients see another id, "+
				"a random one the cluster's first controller makes and keeps in the metadata)")
			fs.StringVar(&peers, "peer-kafka-addrs", "", "Kafka addresses to fetch from as a follower, as `id=host:port,...`, overriding the "+
				"addresses the peers registered (a fault harness routes replication through proxies with it)")
			fs.DurationVar(&lagMax, "replica-lag-time-max", broker.DefaultReplicaLagTimeMax, "replica.lag.time.max.ms: a follower that has not caught up "+
				"to its leader for this `duration` leaves the ISR (a topic's replica.lag.time.max.ms overrides it)")
			fs.IntVar(&minISR, "min-insync-replicas", 1, "min.insync.replicas: in-sync replicas an acks=all produce needs, for topics that do not set it (`n` >= 1)")
			fs.BoolVar(&autoRebalance, "auto-leader-rebalance", true, "auto.leader.rebalance.enable: the controller moves leadership back to preferred replicas")
			fs.DurationVar(&rebalance.Interval, "leader-imbalance-check-interval", controller.DefaultLeaderImbalanceCheckInterval,
				"leader.imbalance.check.interval.seconds: how often the controller looks for leaders to move back (`duration`)")
			fs.BoolVar(&cleanerEnable, "log-cleaner-enable", true, "log.cleaner.enable: compact the partitions of topics with cleanup.policy=compact in the background")
			fs.DurationVar(&cleaner.Backoff, "log-cleaner-backoff", broker.DefaultCleanerBackoff, "log.cleaner.backoff.ms: how often the cleaner looks for logs to compact (`duration`)")
			fs.Int64Var(&cleaner.Options.DedupeBufferSize, "log-cleaner-dedupe-buffer-size", commitlog.DefaultDedupeBufferSize,
				"log.cleaner.dedupe.buffer.size: `bytes` of the cleaner's offset map (24 a key), the bound of its memory")
			fs.IntVar(&rebalance.ImbalancePercentage, "leader-imbalance-per-broker-percentage", controller.DefaultLeaderImbalancePercentage,
				"leader.imbalance.per.broker.percentage: share (1..100) of a broker's preferred partitions led elsewhere before they move back")
		},
		run: func(ctx context.Context, inv *invocation) error {
			if id <= 0 || id > 1<<31-1 {
				return usagef("--id must be a positive broker id")
			}
			vm, err := parseVoters(voters)
			if err != nil {
				return err
			}
			pm, err := parsePeerAddrs(peers)
			if err != nil {
				return err
			}
			if lagMax <= 0 {
				return usagef("--replica-lag-time-max must be positive")
			}
			if minISR < 1 {
				return usagef("--min-insync-replicas must be at least 1")
			}
			rebalance.Disabled = !autoRebalance
			cleaner.Disabled = !cleanerEnable
			if cleaner.Backoff <= 0 {
				return usagef("--log-cleaner-backoff must be positive")
			}
			if err := cleaner.Options.Validate(); err != nil {
				return usagef("%v", err)
			}
			if rebalance.Interval <= 0 || rebalance.ImbalancePercentage < 1 || rebalance.ImbalancePercentage > 100 {
				return usagef("--leader-imbalance-check-interval must be positive and --leader-imbalance-per-broker-percentage in 1..100")
			}
			groups, err := gf.config()
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
			sasl, scram, err := sf.config(ctx)
			if err != nil {
				return err
			}
			peerSASL, err := peer.mech()
			if err != nil {
				return err
			}
			ncfg := broker.NodeConfig{
				ID: int32(id), DataDir: bf.dataDir, AdminListen: bf.admin,
				RaftListen: raft, Voters: vm, ClusterID: clusterID, Rack: rack,
				AutoCreateTopics: bf.autoCreate, StartFreshMetadata: bf.startFresh, Logger: log,
				PeerKafkaAddrs: pm, ReplicaLagTimeMax: lagMax, MinInsyncReplicas: minISR, LeaderRebalance: rebalance, Groups: groups,
				Cleaner: cleaner, Tier: tier, RetentionCheckInterval: tf.retentionCheck,
				SASL: sasl, SCRAM: scram, SuperUsers: sf.superUsers, PeerSASL: peerSASL,
			}
			stls, sstore, err := serverTLS.serverConfig(log)
			if err != nil {
				return err
			}
			if err := bf.applyListeners(&ncfg, stls); err != nil {
				return err
			}
			if stls != nil && !slices.ContainsFunc(ncfg.Listeners, func(l broker.ListenerConfig) bool { return l.Protocol.UsesTLS() }) {
				return usagef("--tls-cert is for SSL listeners, and --listeners has none (e.g. --listeners SSL://host:port)")
			}
			pstore, err := openPeerTLS(&ncfg, &peerTLS, log)
			if err != nil {
				return err
			}
			if inter := interBrokerListener(ncfg); inter.Protocol.UsesTLS() && ncfg.PeerTLS == nil {
				return usagef("the inter-broker listener %s is %s: replica fetchers need --peer-tls-cert, --peer-tls-key and --peer-ca "+
					"(or name another listener in --inter-broker-listener-name)", inter.Name, inter.Protocol)
			}
			if err := checkExposure(ncfg, insecure); err != nil {
				return err
			}
			defer reloadOnHUP(ctx, log, sstore, pstore)()
			return bf.withMetrics(ctx, inv, runNode, ncfg)
		},
	}
}

// parseVoters reads "1@host:port,2@host:port".
func parseVoters(s string) (map[uint64]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, usagef("--voters is required, e.g. 1@127.0.0.1:9093")
	}
	out := map[uint64]string{}
	for _, v := range strings.Split(s, ",") {
		idStr, addr, ok := strings.Cut(strings.TrimSpace(v), "@")
		id, err := strconv.ParseUint(idStr, 10, 31)
		if !ok || err != nil || id == 0 || addr == "" || !strings.Contains(addr, ":") {
			return nil, usagef("--voters entry %q: want id@host:port", v)
		}
		if _, dup := out[id]; dup {
			return nil, usagef("--voters names id %d twice", id)
		}
		out[id] = addr
	}
	return out, nil
}

// parsePeerAddrs reads "2=host:port,3=host:port" (empty: none).
func parsePeerAddrs(s string) (map[int32]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	out := map[int32]string{}
	for _, v := range strings.Split(s, ",") {
		idStr, addr, ok := strings.Cut(strings.TrimSpace(v), "=")
		id, err := strconv.ParseInt(idStr, 10, 32)
		if !ok || err != nil || id <= 0 || addr == "" || !strings.Contains(addr, ":") {
			return nil, usagef("--peer-kafka-addrs entry %q: want id=host:port", v)
		}
		if _, dup := out[int32(id)]; dup {
			return nil, usagef("--peer-kafka-addrs names id %d twice", id)
		}
		out[int32(id)] = addr
	}
	return out, nil
}

// controlledShutdownTimeout bounds how long a stopping broker waits for
// the controller to move its leaderships away.
const controlledShutdownTimeout = 10 * time.Second

// runNode starts a node and serves until ctx is cancelled (SIGTERM,
// SIGINT). It then shuts down in a controlled way: the controller moves its
// leaderships to other replicas and takes it out of the ISRs, so that
// producers see only NOT_LEADER_OR_FOLLOWER and follow the new leaders;
// then it closes.
func runNode(ctx context.Context, inv *invocation, cfg broker.NodeConfig, started func(*broker.Node)) error {
	node, err := broker.StartNode(cfg)
	if err != nil {
		return err
	}
	if started != nil {
		started(node)
	}
	attrs := []any{"id", cfg.ID, "kafka", node.KafkaAddr(), "raft", node.Member.Addr()}
	if a := node.AdminAddr(); a != "" {
		attrs = append(attrs, "admin", a)
	}
	cfg.Logger.Info("broker started", attrs...)
	<-ctx.Done()
	cfg.Logger.Info("shutting down: moving leaderships away")
	start := time.Now()
	sctx, cancel := context.WithTimeout(context.Background(), controlledShutdownTimeout)
	err = node.Member.ControlledShutdown(sctx)
	cancel()
	if err != nil {
		cfg.Logger.Warn("controlled shutdown incomplete; closing anyway", "err", err)
	} else {
		cfg.Logger.Info("controlled shutdown done: this broker leads nothing", "took", time.Since(start))
	}
	return node.Close()
}
