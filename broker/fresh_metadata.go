package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/runnel-dev/runnel/broker/commitlog"
)

// ErrMetadataMissing is returned by StartNode when the node would bootstrap
// new cluster metadata (its meta/ directory holds no raft state: missing,
// emptied, or never written) while the data directory holds partition data.
// That data's topics would be unknown to the new metadata, and a topic of the
// same name created again would take its directory. Restore meta/ from a
// backup, rejoin the existing cluster as a learner (start the node outside
// the voters and add it with AddRaftVoter), or set
// NodeConfig.StartFreshMetadata (--start-fresh-metadata) to start new
// metadata with the old partition directories set aside.
var ErrMetadataMissing = errors.New("cluster metadata missing beside partition data")

// freshMetadataGuard returns the hook raftmeta runs before it bootstraps new
// metadata in dataDir/meta (see raftnode.Config.OnBootstrap). It refuses when
// a partition directory holds data, unless startFresh, in which case every
// partition directory is first renamed <dir>.<hex>-stray: kept, never served,
// never removed.
func freshMetadataGuard(dataDir string, startFresh bool, logger *slog.Logger) func() error {
	return func() error {
		parts, err := commitlog.ListPartitions(dataDir)
		if err != nil {
			return err
		}
		var withData []string
		for _, tp := range parts {
			held, err := commitlog.HoldsData(filepath.Join(dataDir, tp.String()))
			if err != nil {
				return err
			}
			if held {
				withData = append(withData, tp.String())
			}
		}
		if len(withData) == 0 {
			return nil
		}
		if !startFresh {
			return fmt.Errorf("%w: refusing to start: %s holds partition data (%s) but its cluster metadata (%s) is missing or empty; "+
				"restore it from a backup, rejoin the cluster as a learner (start without this node in --voters, then AddRaftVoter), "+
				"or pass --start-fresh-metadata to start new metadata with the old partition directories renamed *-stray (kept, not served)",
				ErrMetadataMissing, dataDir, nameList(withData), filepath.Join(dataDir, "meta"))
		}
		st, err := commitlog.OpenStore(dataDir, logger)
		if err != nil {
			return err
		}
		for _, tp := range parts {
			name, err := st.SetAside(tp)
			if err != nil {
				return errors.Join(err, st.Close())
			}
			logger.Warn("starting fresh metadata: partition directory set aside, kept but not served", "partition", tp.String(), "renamed_to", name)
		}
		return st.Close()
	}
}
