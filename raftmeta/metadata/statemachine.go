package metadata

import (
	"log/slog"
	"sync"
)

// Applied describes one entry the state machine applied; see
// Options.OnApply.
type Applied struct {
	// Index is the raft index of the entry.
	Index uint64
	// Batch is the decoded entry; empty when the entry was empty or did not
	// decode.
	Batch Batch
	// Err is the rejection, nil when the batch applied.
	Err error
	// Hash is the image hash after the entry.
	Hash string
}

// Options configure a StateMachine. The zero value is usable.
type Options struct {
	// Logger receives rejections at debug level. Default: slog.Default().
	Logger *slog.Logger
	// OnApply, if set, is called after every entry on the applying goroutine,
	// outside the state machine's lock. Tests use it to record the history of
	// applied records; it must not block for long.
	OnApply func(Applied)
}

// StateMachine applies committed metadata entries to an Image. It
// implements raftnode.StateMachine: Apply, Snapshot and Restore are called
// by the raft node on one goroutine; Image and Watch may be called from any
// goroutine.
type StateMachine struct {
	log     *slog.Logger
	onApply func(Applied)

	mu      sync.Mutex    // guards cur and changed
	cur     *Image        // current image, replaced (never modified) on apply
	changed chan struct{} // closed and replaced when cur is replaced
}

// NewStateMachine returns a state machine holding the empty image.
func NewStateMachine(opts Options) *StateMachine {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &StateMachine{
		log:     opts.Logger,
		onApply: opts.OnApply,
		cur:     NewImage(),
		changed: make(chan struct{}),
	}
}

// Image returns the current image.
func (s *StateMachine) Image() *Image {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// Watch returns the current image and a channel that is closed as soon as a
// newer image is published (after every applied entry, including empty and
// rejected ones, whose images differ only in Version). Read the image, do the
// work, then wait on the channel and call Watch again: no change is missed.
func (s *StateMachine) Watch() (*Image, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur, s.changed
}

// publish installs img and wakes the watchers.
func (s *StateMachine) publish(img *Image) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur = img
	close(s.changed)
	s.changed = make(chan struct{})
}

// Apply applies the committed entry at index. Every entry advances the
// image's Version, but only an accepted non-empty batch changes its content.
// A rejected batch returns the rejection (wrapping a sentinel error) and
// leaves the content unchanged; every node rejects it the same way. Entries
// at or below the current version were already applied (say, covered by a
// restored snapshot) and are ignored.
func (s *StateMachine) Apply(index uint64, data []byte) error {
	cur := s.Image()
	if index <= cur.version && cur.version != 0 {
		s.log.Warn("metadata: ignoring already applied entry", "index", index, "version", cur.version)
		return nil
	}
	var (
		b    Batch
		err  error
		next *Image
	)
	if len(data) > 0 {
		b, err = Decode(data)
		if err == nil {
			next, err = cur.Apply(index, b)
		}
	}
	if next == nil {
		next = cur.clone()
		next.version = index
	}
	if err != nil {
		s.log.Debug("metadata: entry rejected", "index", index, "err", err)
	}
	s.publish(next)
	if s.onApply != nil {
		s.onApply(Applied{Index: index, Batch: b, Err: err, Hash: next.Hash()})
	}
	return err
}

// Snapshot returns the encoding of the current image.
func (s *StateMachine) Snapshot() ([]byte, error) {
	return s.Image().Marshal()
}

// Restore replaces the image with the snapshot data taken at index.
func (s *StateMachine) Restore(index uint64, data []byte) error {
	img, err := UnmarshalImage(data)
	if err != nil {
		return err
	}
	img.version = index
	s.publish(img)
	return nil
}
