package metadata

import "github.com/google/uuid"

// RemoteLogStartMoved moves a partition's remote log start forward
// (DeleteRecords at an offset its remote segments hold): records below
// Offset are gone for readers, and the segments wholly below it are removed
// by the leader afterwards. The controller proposes it for the partition's
// current leader only (the request quotes the leader epoch).
type RemoteLogStartMoved struct {
	ID        uuid.UUID `json:"id"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
}

// remoteLogStartMoved applies a RemoteLogStartMoved record.
func (w *writer) remoteLogStartMoved(r *RemoteLogStartMoved) error {
	t, p, err := w.partition(r.ID, r.Partition)
	if err != nil {
		return err
	}
	if r.Offset <= p.RemoteLogStart {
		return rejectf(ErrInvalidRemoteLogStart, "topic %q partition %d: remote log start is %d, record moves it to %d", t.Name, r.Partition, p.RemoteLogStart, r.Offset)
	}
	p.RemoteLogStart = r.Offset
	w.putTopic(t)
	return nil
}
