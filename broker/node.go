package broker

import (
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
	// is used instead.
	KafkaListen   string
	KafkaListener net.Listener
	// Advertise is the Kafka address clients are told (default: the listen
	// address).
	Advertise string
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
	// SASL, if set, makes the Kafka listener a SASL one: clients
	// authenticate and every request is authorized (see
	// kafkaserver.SASLConfig and authorize.go). The admin listener stays
	// unauthenticated.
	SASL *kafkaserver.SASLConfig
	// SCRAM lists password mechanisms (saslauth.SCRAMSHA256,
	// SCRAMSHA512, PlainName) to offer on the Kafka listener besides
	// SASL's, with the users AlterUserScramCredentials stores in the
	// metadata. PLAIN is offered on TLS connections only.
	SCRAM []string
	// SuperUsers are principals ("User:alice") that may do everything,
	// Kafka's super.users; other SCRAM users may do nothing.
	SuperUsers []string
	// PeerSASL: see Config.PeerSASL.
	PeerSASL sasl.Mechanism
	Logger   *slog.Logger
	Metrics  prometheus.Registerer
}

// Node is a running broker: metadata member, broker and Kafka server.
type Node struct {
	Member *raftmeta.Member
	Broker *Broker
	Server *kafkaserver.Server
	ln     net.Listener
	served chan error
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
	ln := cfg.KafkaListener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.KafkaListen); err != nil {
			return nil, fmt.Errorf("kafka listener: %w", err)
		}
	}
	adminLn := cfg.AdminListener
	if adminLn == nil && cfg.AdminListen != "" {
		var err error
		if adminLn, err = net.Listen("tcp", cfg.AdminListen); err != nil {
			ln.Close()
			return nil, fmt.Errorf("admin listener: %w", err)
		}
	}
	closeListeners := func() {
		ln.Close()
		if adminLn != nil {
			adminLn.Close()
		}
	}
	advertise := cfg.Advertise
	if advertise == "" {
		advertise = ln.Addr().String()
	}
	_, voter := cfg.Voters[uint64(cfg.ID)]
	member, err := raftmeta.Open(raftmeta.Config{
		NodeID: uint64(cfg.ID), ClusterID: cfg.ClusterID, Dir: filepath.Join(cfg.DataDir, "meta"),
		Listen: cfg.RaftListen, Listener: cfg.RaftListener, Voters: cfg.Voters, Learner: !voter,
		BrokerID: cfg.ID, AdvertisedAddr: advertise, Rack: cfg.Rack, SessionTimeout: cfg.SessionTimeout,
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
		ReplicaLagTimeMax: cfg.ReplicaLagTimeMax, MinInsyncReplicas: cfg.MinInsyncReplicas, PeerKafkaAddrs: cfg.PeerKafkaAddrs, PeerSASL: cfg.PeerSASL,
		Groups: cfg.Groups, Cleaner: cfg.Cleaner,
		Logger: cfg.Logger.With("component", "broker"), Metrics: cfg.Metrics,
	})
	if err != nil {
		member.Close()
		closeListeners()
		return nil, err
	}
	sasl, err := SCRAMListener(cfg.SASL, cfg.SCRAM, NewScramUsers(member, cfg.SuperUsers))
	if err != nil {
		b.Close()
		member.Close()
		closeListeners()
		return nil, err
	}
	srv, err := kafkaserver.New(kafkaserver.Config{
		Handler: b, APIs: APIs(), MaxRequestBytes: cfg.MaxRequestBytes,
		ConnectionsMaxIdle: cfg.ConnectionsMaxIdle, SASL: sasl,
		Logger: cfg.Logger.With("component", "kafka"), Metrics: cfg.Metrics,
	})
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
		b.Close()
		member.Close()
		closeListeners()
		return nil, err
	}
	b.Start()
	n := &Node{Member: member, Broker: b, Server: srv, ln: ln, served: make(chan error, 1), admin: admin, adminLn: adminLn}
	go func() { n.served <- srv.Serve(ln) }()
	if admin != nil {
		n.adminServed = make(chan error, 1)
		go func() { n.adminServed <- admin.Serve(adminLn) }()
	}
	return n, nil
}

// KafkaAddr returns the address the Kafka listener is bound to.
func (n *Node) KafkaAddr() string { return n.ln.Addr().String() }

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
	err := stopServer(n.Server, n.served)
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
