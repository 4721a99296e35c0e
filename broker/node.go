package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/runnel-dev/runnel/broker/group"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/raftmeta"
	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/twmb/franz-go/pkg/sasl"
)

// NodeConfig describes one broker process: its metadata member, its logs and
// its Kafka listener.
type NodeConfig struct {
	// ID is the broker id and raft node id (> 0).
	ID int32
	// DataDir holds the partition logs and, under meta/, the raft state.
	DataDir string
	// KafkaListen is the Kafka protocol listen address; KafkaListener, if set,
	// is used instead. They make one unnamed PLAINTEXT listener; use
	// Listeners for several, or for TLS.
	KafkaListen   string
	KafkaListener net.Listener
	// Advertise is the Kafka address clients are told (default: the listen
	// address).
	Advertise string
	// Listeners, when set, are the node's Kafka listeners (Kafka's
	// listeners, advertised.listeners and listener.security.protocol.map),
	// replacing KafkaListen, KafkaListener and Advertise, which must then be
	// empty.
	Listeners []ListenerConfig
	// InterBrokerListener names the listener of Listeners that other
	// brokers' replica fetchers connect to (inter.broker.listener.name;
	// default the first). Its advertised address is the broker's registered
	// address; every broker of a cluster uses the same name.
	InterBrokerListener string
	// PeerTLS, when set, puts the raft transport and the replica fetchers
	// under mutual TLS with the cluster's CA.
	PeerTLS *PeerTLS
	// AdminListen, if set, is the admin listener's address; AdminListener,
	// if set, is used instead. The admin listener speaks the Kafka protocol
	// with every API of the client listener plus the admin-only ones
	// (AddRaftVoter, RemoveRaftVoter), which the client listener neither
	// lists nor serves. It has no authentication: bind it to loopback or
	// a private network. Without either there is no admin listener.
	AdminListen   string
	AdminListener net.Listener
	// RaftListen is the raft listen address; RaftListener, if set, is used
	// instead.
	RaftListen   string
	RaftListener net.Listener
	// Voters are the initial raft voters, id → raft address; a node not among
	// them joins as a learner.
	Voters map[uint64]string
	// ClusterID guards the raft transport: raft messages of other clusters
	// are refused. Kafka clients see another id, the random one the first
	// controller stores in the metadata (metadata.NewClusterID).
	ClusterID uint64
	// Rack is this broker's rack, for replica placement.
	Rack string
	// AutoCreateTopics turns on auto.create.topics.enable.
	AutoCreateTopics bool
	// SessionTimeout is broker.session.timeout.ms (default 9 s).
	SessionTimeout time.Duration
	// MaxRequestBytes is socket.request.max.bytes (default 100 MiB).
	MaxRequestBytes int32
	// ConnectionsMaxIdle is connections.max.idle.ms (default 10 min).
	ConnectionsMaxIdle time.Duration
	// FileDeleteDelay is file.delete.delay.ms (default 60 s): see
	// Config.FileDeleteDelay.
	FileDeleteDelay time.Duration
	// StartFreshMetadata lets a node whose meta/ holds no raft state start
	// new cluster metadata although its data directory holds partition data:
	// every partition directory is first renamed <dir>.<hex>-stray, kept but
	// never served or removed. Without it such a node refuses to start with
	// ErrMetadataMissing. A node that has its metadata ignores it.
	StartFreshMetadata bool
	// MetadataSnapshotEntries is how many metadata entries are applied
	// between raft snapshots (default: raftmeta's, 10000); tests lower it to
	// get snapshot files from a short run.
	MetadataSnapshotEntries uint64
	// LeaderRebalance tunes the preferred-leader rebalance its controller
	// runs (auto.leader.rebalance.enable and companions).
	LeaderRebalance controller.Rebalance
	// ReplicaLagTimeMax is replica.lag.time.max.ms (default 30 s): see
	// Config.ReplicaLagTimeMax.
	ReplicaLagTimeMax time.Duration
	// MinInsyncReplicas is the broker's min.insync.replicas (default 1): see
	// Config.MinInsyncReplicas.
	MinInsyncReplicas int
	// Groups configures the group coordinator: see Config.Groups.
	Groups group.Config
	// Cleaner configures log compaction: see Config.Cleaner.
	Cleaner CleanerConfig
	// PeerKafkaAddrs overrides, by broker id, the Kafka address this broker
	// fetches from as a follower (default: the address the peer
	// registered); the fault harness routes replication through proxies
	// with it.
	PeerKafkaAddrs map[int32]string
	// Tier configures tiered storage: see Config.Tier.
	Tier TierConfig
	// RetentionCheckInterval is log.retention.check.interval.ms: see
	// Config.RetentionCheckInterval.
	RetentionCheckInterval time.Duration
	// SASL, if set, is the SASL of the listeners whose protocol is
	// SASL_PLAINTEXT or SASL_SSL (and makes the one unnamed listener of
	// KafkaListen a SASL_PLAINTEXT one): clients authenticate and every
	// request is authorized (see kafkaserver.SASLConfig and authorize.go).
	// PLAINTEXT and SSL listeners and the admin listener stay
	// unauthenticated.
	SASL *kafkaserver.SASLConfig
	// SCRAM lists password mechanisms (saslauth.SCRAMSHA256,
	// SCRAMSHA512, PlainName) to offer on the SASL listeners besides
	// SASL's, with the users AlterUserScramCredentials stores in the
	// metadata. PLAIN is offered on TLS connections (SASL_SSL) only.
	SCRAM []string
	// SuperUsers are principals ("User:alice") that may do everything,
	// Kafka's super.users; other SCRAM users what the ACLs allow.
	SuperUsers []string
	// PeerSASL: see Config.PeerSASL. It is used when the inter-broker
	// listener's protocol uses SASL.
	PeerSASL sasl.Mechanism
	Logger   *slog.Logger
	Metrics  prometheus.Registerer
}

// Node is a running broker: metadata member, broker and Kafka server.
type Node struct {
	Member *raftmeta.Member
	Broker *Broker
	// Server serves the first Kafka listener.
	Server    *kafkaserver.Server
	listeners []*kafkaListener
	// admin is the admin listener's server (nil without one).
	admin       *kafkaserver.Server
	adminLn     net.Listener
	adminServed chan error
}

// StartNode opens the data directory, joins the metadata cluster and starts
// serving the Kafka protocol.
func StartNode(cfg NodeConfig) (*Node, error) {
	if cfg.ID <= 0 {
		return nil, fmt.Errorf("broker id %d must be positive", cfg.ID)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ClusterID == 0 {
		cfg.ClusterID = 1
	}
	lcfgs, interBroker, err := cfg.kafkaListeners()
	if err != nil {
		return nil, err
	}
	var peerFetchTLS *tls.Config
	if cfg.PeerTLS != nil {
		if err := cfg.PeerTLS.validate(); err != nil {
			return nil, err
		}
		if interBroker.Protocol.UsesTLS() {
			peerFetchTLS = cfg.PeerTLS.Client
		}
	} else if interBroker.Protocol.UsesTLS() {
		return nil, fmt.Errorf("inter-broker listener %s uses TLS: replica fetchers need the peer TLS configuration (cluster CA and this broker's certificate)", interBroker.Name)
	}
	var peerFetchSASL sasl.Mechanism
	if interBroker.Protocol.UsesSASL() {
		peerFetchSASL = cfg.PeerSASL
	}
	kls, err := bindListeners(lcfgs)
	if err != nil {
		return nil, err
	}
	adminLn := cfg.AdminListener
	if adminLn == nil && cfg.AdminListen != "" {
		var err error
		if adminLn, err = net.Listen("tcp", cfg.AdminListen); err != nil {
			closeKafkaListeners(kls)
			return nil, fmt.Errorf("admin listener: %w", err)
		}
	}
	raftLn, raftDial, err := cfg.raftTransport()
	closeListeners := func() {
		closeKafkaListeners(kls)
		if adminLn != nil {
			adminLn.Close()
		}
		if raftLn != nil && raftLn != cfg.RaftListener {
			raftLn.Close()
		}
	}
	if err != nil {
		closeListeners()
		return nil, err
	}
	advertise := kls[0].cfg.Advertise
	for _, l := range kls {
		if l.cfg.Name == interBroker.Name {
			advertise = l.cfg.Advertise
		}
	}
	_, voter := cfg.Voters[uint64(cfg.ID)]
	member, err := raftmeta.Open(raftmeta.Config{
		NodeID: uint64(cfg.ID), ClusterID: cfg.ClusterID, Dir: filepath.Join(cfg.DataDir, "meta"),
		Listen: cfg.RaftListen, Listener: raftLn, Dialer: raftDial, Voters: cfg.Voters, Learner: !voter,
		BrokerID: cfg.ID, AdvertisedAddr: advertise, AdvertisedListeners: endpoints(kls), Rack: cfg.Rack, SessionTimeout: cfg.SessionTimeout,
		OnBootstrap:     freshMetadataGuard(cfg.DataDir, cfg.StartFreshMetadata, cfg.Logger.With("component", "broker")),
		SnapshotEntries: cfg.MetadataSnapshotEntries, Rebalance: cfg.LeaderRebalance,
		Logger: cfg.Logger.With("component", "raftmeta"), Metrics: cfg.Metrics,
	})
	if err != nil {
		closeListeners()
		return nil, err
	}
	b, err := New(Config{
		BrokerID: cfg.ID, DataDir: cfg.DataDir, Member: member,
		AutoCreateTopics: cfg.AutoCreateTopics, FileDeleteDelay: cfg.FileDeleteDelay,
		ReplicaLagTimeMax: cfg.ReplicaLagTimeMax, MinInsyncReplicas: cfg.MinInsyncReplicas, PeerKafkaAddrs: cfg.PeerKafkaAddrs,
		PeerTLS: peerFetchTLS, PeerSASL: peerFetchSASL,
		Groups: cfg.Groups, Cleaner: cfg.Cleaner, Tier: cfg.Tier, RetentionCheckInterval: cfg.RetentionCheckInterval,
		Logger: cfg.Logger.With("component", "broker"), Metrics: cfg.Metrics,
	})
	if err != nil {
		member.Close()
		closeListeners()
		return nil, err
	}
	saslCfg, err := SCRAMListener(cfg.SASL, cfg.SCRAM, NewScramUsers(member, cfg.SuperUsers))
	if err != nil {
		b.Close()
		member.Close()
		closeListeners()
		return nil, err
	}
	for _, l := range kls {
		kcfg := kafkaserver.Config{
			Handler: b, APIs: APIs(), MaxRequestBytes: cfg.MaxRequestBytes,
			ConnectionsMaxIdle: cfg.ConnectionsMaxIdle, TLS: l.cfg.TLS, ListenerName: l.cfg.Name,
			Logger: cfg.Logger.With("component", "kafka"), Metrics: cfg.Metrics,
		}
		if l.cfg.Protocol.UsesSASL() {
			kcfg.SASL = saslCfg
		}
		if l.cfg.Name != "" {
			kcfg.Logger = kcfg.Logger.With("listener", l.cfg.Name)
			// Named listeners' collectors share names: a listener label
			// tells them apart.
			if cfg.Metrics != nil {
				kcfg.Metrics = prometheus.WrapRegistererWith(prometheus.Labels{"listener": l.cfg.Name}, cfg.Metrics)
			}
		}
		if l.srv, err = kafkaserver.New(kcfg); err != nil {
			break
		}
	}
	var admin *kafkaserver.Server
	if err == nil && adminLn != nil {
		// No metrics: the client server's collectors have the same names.
		admin, err = kafkaserver.New(kafkaserver.Config{
			Handler: b, APIs: AdminAPIs(), MaxRequestBytes: cfg.MaxRequestBytes,
			ConnectionsMaxIdle: cfg.ConnectionsMaxIdle,
			Logger:             cfg.Logger.With("component", "kafka-admin"),
		})
	}
	if err != nil {
		for _, l := range kls {
			if l.srv != nil {
				l.srv.Close()
			}
		}
		b.Close()
		member.Close()
		closeListeners()
		return nil, err
	}
	b.Start()
	n := &Node{Member: member, Broker: b, Server: kls[0].srv, listeners: kls, admin: admin, adminLn: adminLn}
	for _, l := range kls {
		go func() { l.served <- l.srv.Serve(l.ln) }()
	}
	if admin != nil {
		n.adminServed = make(chan error, 1)
		go func() { n.adminServed <- admin.Serve(adminLn) }()
	}
	return n, nil
}

// kafkaListeners returns the node's listeners (one unnamed PLAINTEXT
// listener from KafkaListen, KafkaListener and Advertise when Listeners is
// empty) and the inter-broker one.
func (cfg *NodeConfig) kafkaListeners() ([]ListenerConfig, ListenerConfig, error) {
	if len(cfg.Listeners) == 0 {
		if cfg.InterBrokerListener != "" {
			return nil, ListenerConfig{}, errors.New("InterBrokerListener names a listener, but Listeners is empty")
		}
		l := ListenerConfig{Protocol: Plaintext, Listen: cfg.KafkaListen, Listener: cfg.KafkaListener, Advertise: cfg.Advertise}
		if cfg.hasSASL() {
			l.Protocol = SASLPlaintext
		}
		return []ListenerConfig{l}, l, nil
	}
	if cfg.KafkaListen != "" || cfg.KafkaListener != nil || cfg.Advertise != "" {
		return nil, ListenerConfig{}, errors.New("give either Listeners or KafkaListen/KafkaListener/Advertise, not both")
	}
	if err := validateListeners(cfg.Listeners, cfg.InterBrokerListener, cfg.hasSASL()); err != nil {
		return nil, ListenerConfig{}, err
	}
	inter := cfg.Listeners[0]
	for _, l := range cfg.Listeners {
		if l.Name == cfg.InterBrokerListener {
			inter = l
		}
	}
	return cfg.Listeners, inter, nil
}

// raftTransport returns the raft listener and dialer: under PeerTLS, TLS
// ones that require and present certificates of the cluster CA; otherwise
// cfg.RaftListener (nil: raftnode binds RaftListen) and the default
// dialer.
func (cfg *NodeConfig) raftTransport() (net.Listener, func(context.Context, string) (net.Conn, error), error) {
	if cfg.PeerTLS == nil {
		return cfg.RaftListener, nil, nil
	}
	ln := cfg.RaftListener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.RaftListen); err != nil {
			return nil, nil, fmt.Errorf("raft listener: %w", err)
		}
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: raftDialTimeout}, Config: cfg.PeerTLS.Client}
	dial := func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	return tls.NewListener(ln, cfg.PeerTLS.Server), dial, nil
}

// raftDialTimeout bounds a raft connection's TCP connect under PeerTLS, as
// raftnode's default dialer does.
const raftDialTimeout = 2 * time.Second

// KafkaAddr returns the address the first Kafka listener is bound to.
func (n *Node) KafkaAddr() string { return n.listeners[0].ln.Addr().String() }

// ListenerAddr returns the address the Kafka listener named name is bound
// to, "" when the node has no such listener.
func (n *Node) ListenerAddr(name string) string {
	for _, l := range n.listeners {
		if l.cfg.Name == name {
			return l.ln.Addr().String()
		}
	}
	return ""
}

// AdminAddr returns the address the admin listener is bound to, "" when
// there is none.
func (n *Node) AdminAddr() string {
	if n.adminLn == nil {
		return ""
	}
	return n.adminLn.Addr().String()
}

// Close stops serving, closes the logs cleanly and leaves the metadata cluster.
func (n *Node) Close() error {
	var err error
	for _, l := range n.listeners {
		err = errors.Join(err, stopServer(l.srv, l.served))
	}
	if n.admin != nil {
		err = errors.Join(err, stopServer(n.admin, n.adminServed))
	}
	err = errors.Join(err, n.Broker.Close(), n.Member.Close())
	return err
}

// stopServer closes srv and returns what its Serve returned, but the
// errors that closing causes.
func stopServer(srv *kafkaserver.Server, served <-chan error) error {
	err := srv.Close()
	if serr := <-served; serr != nil && !errors.Is(serr, net.ErrClosed) && !errors.Is(serr, kafkaserver.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// hasSASL reports whether the node is given SASL (SASL or SCRAM), which
// SASL_PLAINTEXT and SASL_SSL listeners need; kafkaserver refuses a SASL
// without mechanisms.
func (cfg *NodeConfig) hasSASL() bool {
	return cfg.SASL != nil || len(cfg.SCRAM) > 0
}
