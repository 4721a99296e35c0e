package main

import (
	"flag"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/tiering"
)

// tierCacheFlags are the read side of tiered storage, shared by "runnel
// broker" and "runnel dev": where chunks of remote segments read back are
// cached and how much disk they may take.
type tierCacheFlags struct {
	dir   string
	bytes int64
}

func (f *tierCacheFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.dir, "tier-cache-dir", "", "`directory` for the chunk cache of remote (tiered) segments read back, outside --data-dir "+
		"(default: DATA-DIR-tier-cache, beside it)")
	fs.Int64Var(&f.bytes, "tier-cache-bytes", tiering.DefaultCacheBytes, "disk `bytes` the chunk cache of remote segments may take (least recently used chunks go first)")
}

// config returns the cache settings of a broker.TierConfig.
func (f *tierCacheFlags) config() (broker.TierConfig, error) {
	if f.bytes <= 0 {
		return broker.TierConfig{}, usagef("--tier-cache-bytes must be positive")
	}
	return broker.TierConfig{CacheDir: f.dir, CacheBytes: f.bytes}, nil
}
