package openapitest_test

import (
	"testing"

	"github.com/runnel-dev/runnel/gateway/openapitest"
)

func TestServerFrames(t *testing.T) {
	good := []string{
		`{"type":"subscribed","id":"s1","topic_id":"5b0c7f6e-3f0e-4a8c-9d61-2f7c1f0e8a11","partitions":[0,1]}`,
		`{"type":"event","id":"s1","topic":"chat","partition":0,"offset":42,"timestamp":1,"key":null,"value":null,"headers":{}}`,
		`{"type":"event","id":"s1","topic":"chat","partition":0,"offset":42,"timestamp":1,"key":"k","value_b64":"AA==","headers":{"h":"v"}}`,
		`{"type":"event","id":"s1","topic":"chat","partition":0,"offset":43,"timestamp":1,"key_b64":"/w==","value":"x","headers":{"n":null},"headers_b64":{"b":"/w=="}}`,
		`{"type":"error","code":"invalid_json","message":"frame is not JSON"}`,
		`{"type":"error","id":"s1","code":"topic_not_found","message":"no topic chat"}`,
		`{"type":"error","id":"s1","code":"data_unreadable","message":"damaged","topic":"chat","partition":0,"unreadable_from":5,"next_offset":8}`,
		`{"type":"error","id":"s1","op":"commit","code":"conflict","message":"partition 2 moved","partition":2}`,
		`{"type":"events","id":"s1","topic":"chat","events":[{"partition":0,"offset":42,"timestamp":1,"key":null,"value":null,"headers":{}},{"partition":1,"offset":7,"timestamp":1,"key_b64":"/w==","value_b64":"AA==","headers":{}}]}`,
		`{"type":"authenticated","exp":1767229200}`,
	}
	for _, f := range good {
		rec := &recordingTB{TB: t}
		openapitest.CheckServerFrame(rec, []byte(f))
		if errs := rec.errors(); len(errs) != 0 {
			t.Errorf("%s: want no reports, got %q", f, errs)
		}
	}
	bad := []string{
		`{"type":"subscribed","id":"s1","partitions":[0]}`,                                                          // no topic_id
		`{"type":"event","id":"s1","topic":"chat","partition":0,"offset":42,"timestamp":1,"key":null,"headers":{}}`, // no value
		`{"type":"event","id":"s1","topic":"chat","partition":0,"offset":42,"timestamp":1,"key":null,"value":1,"value_b64":"AA==","headers":{}}`,
		`{"type":"event","id":"s1","topic":"chat","partition":0,"offset":42,"timestamp":1,"value":1,"headers":{}}`, // no key
		`{"type":"event","id":"s1","topic":"chat","partition":0,"offset":42,"timestamp":1,"key":null,"value":1,"headers":{"h":1}}`,
		`{"type":"error","message":"no code"}`,
		`{"type":"error","code":"no_such_code","message":"a code the document does not list"}`,
		`{"type":"error","id":"s1","code":"data_unreadable","message":"damaged","topic":"chat","partition":0,"unreadable_from":5}`, // no next_offset
		`{"type":"error","id":"s1","code":"data_unreadable","message":"damaged","unreadable_from":5,"next_offset":8}`,              // no partition
		`{"type":"welcome"}`,
		`{"type":"error","op":"publish","code":"invalid_request","message":"no such op"}`,
		`{"type":"events","id":"s1","topic":"chat","events":[{"partition":0,"offset":42,"timestamp":1,"key":null,"value":null,"headers":{}}]}`,                                                                // one event: that is an event frame
		`{"type":"events","id":"s1","topic":"chat","events":[{"partition":0,"offset":42,"timestamp":1,"key":null,"headers":{}},{"partition":0,"offset":43,"timestamp":1,"key":null,"value":1,"headers":{}}]}`, // an item without value
		`{"type":"events","id":"s1","events":[]}`, // no topic, no events
		`{"type":"authenticated"}`,                // no exp

		`not json`,
	}
	for _, f := range bad {
		rec := &recordingTB{TB: t}
		openapitest.CheckServerFrame(rec, []byte(f))
		if errs := rec.errors(); len(errs) != 1 {
			t.Errorf("%s: want one report, got %q", f, errs)
		}
	}
}

func TestClientFrames(t *testing.T) {
	good := []string{
		`{"type":"auth","token":"a.b.c"}`,
		`{"type":"subscribe","id":"s1","topic":"chat"}`,
		`{"type":"subscribe","id":"s1","topic":"chat","from":"earliest","partitions":[0,2]}`,
		`{"type":"subscribe","id":"s1","topic":"chat","from":120}`,
		`{"type":"subscribe","id":"s1","topic":"chat","from":{"time":1767225600000}}`,
		`{"type":"subscribe","id":"s1","topic":"chat","from":{"offsets":{"0":120,"1":98}},"group":"g"}`,
		`{"type":"unsubscribe","id":"s1"}`,
		`{"type":"commit","id":"s1","offsets":{"0":121}}`,
		`{"type":"subscribe","id":"s1","topic":"chat","batch":true}`,
	}
	for _, f := range good {
		rec := &recordingTB{TB: t}
		openapitest.CheckClientFrame(rec, []byte(f))
		if errs := rec.errors(); len(errs) != 0 {
			t.Errorf("%s: want no reports, got %q", f, errs)
		}
	}
	bad := []string{
		`{"type":"subscribe","id":"s1"}`,                                           // no topic
		`{"type":"subscribe","id":"s1","topic":"chat","from":"middle"}`,            // bad from
		`{"type":"subscribe","id":"s1","topic":"chat","from":{"offsets":{"x":1}}}`, // bad partition key
		`{"type":"commit","id":"s1"}`,                                              // no offsets
		`{"type":"commit","id":"s1","offsets":{}}`,                                 // no partition
		`{"type":"subscribe","id":"s1","topic":"chat","batch":"yes"}`,              // batch is a boolean
		`{"type":"auth"}`,              // no token
		`{"type":"publish","id":"s1"}`, // no such frame
	}
	for _, f := range bad {
		rec := &recordingTB{TB: t}
		openapitest.CheckClientFrame(rec, []byte(f))
		if errs := rec.errors(); len(errs) != 1 {
			t.Errorf("%s: want one report, got %q", f, errs)
		}
	}
}
