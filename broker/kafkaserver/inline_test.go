package kafkaserver

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestInline turns spliced Fetch responses into messages holding the
// regions' bytes (still right after the files are released), at flexible and older versions, as a client decodes them
// from the wire; a response without splices is its own message, and a
// response of the wrong kind is refused.
func TestInline(t *testing.T) {
	fx := newFetchFixture(t)
	for _, version := range []int16{4, 11, 12, 16} {
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(version)
		resp, err := fx.handle(t.Context(), &Request{Key: req.Key(), Version: version, Msg: req})
		if err != nil {
			t.Fatal(err)
		}
		msg, err := resp.Inline(req.Key(), version)
		if err != nil {
			t.Fatalf("v%d: %v", version, err)
		}
		fr := msg.(*kmsg.FetchResponse)
		if fr.GetVersion() != version {
			t.Fatalf("v%d: inlined as v%d", version, fr.GetVersion())
		}
		if resp.Release != nil {
			resp.Release() // the message holds the bytes, not the files
		}
		fx.check(t, fr)
	}

	plain := &Response{Msg: kmsg.NewPtrMetadataResponse()}
	msg, err := plain.Inline(int16(kmsg.Metadata), 9)
	if err != nil || msg != plain.Msg || msg.GetVersion() != 9 {
		t.Fatalf("a response without splices: %v, %v (v%d)", msg, err, msg.GetVersion())
	}
	if _, err := plain.Inline(int16(kmsg.Fetch), 9); err == nil {
		t.Fatal("a Metadata response inlined as a Fetch answer")
	}
	if msg, err := (&Response{}).Inline(int16(kmsg.Produce), 9); msg != nil || err != nil {
		t.Fatalf("no message: %v, %v; want nothing", msg, err)
	}
}
