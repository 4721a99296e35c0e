package main

import (
	"flag"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// raftListener is the listener name AddRaftVoter carries the new voter's
// raft address under, as Kafka names its controller listener.
const raftListener = "CONTROLLER"

// voterChange is what "runnel admin voters add|remove" prints as JSON.
type voterChange struct {
	Action      string `json:"action"`
	ID          int32  `json:"id"`
	RaftAddress string `json:"raft_address,omitempty"`
}

func adminVotersAddCommand() *command {
	var af adminFlags
	var id int
	var raftAddr string
	return &command{
		name:    "add",
		summary: "add a broker to the metadata quorum as a voter",
		help: `Add node --id, whose raft listener is --raft, to the metadata quorum as a
voter (AddRaftVoter). The node must be running, started outside --voters so
that it waits as a learner; it receives the metadata log, catches up and
then votes. Only a broker's admin listener serves the call (runnel broker
--admin-addr): --bootstrap names it; any node's will do.`,
		flags: func(fs *flag.FlagSet) {
			af.register(fs)
			fs.IntVar(&id, "id", 0, "node `ID` of the new voter (its --id)")
			fs.StringVar(&raftAddr, "raft", "", "raft `address` of the new voter (its --raft), host:port")
		},
		run: af.run(func(s *adminSession, inv *invocation) error {
			if id <= 0 || id > 1<<31-1 {
				return usagef("--id %d: want the new voter's positive node id", id)
			}
			host, portStr, err := net.SplitHostPort(raftAddr)
			port, perr := strconv.ParseUint(portStr, 10, 16)
			if err != nil || perr != nil || host == "" || port == 0 {
				return usagef("--raft %q: want the new voter's raft address, host:port", raftAddr)
			}
			req := kmsg.NewPtrAddRaftVoterRequest()
			// The broker waits for the voter to catch up within this, and
			// answers before the command's own timeout ends.
			req.VoterID, req.TimeoutMillis = int32(id), int32(max(af.timeout*4/5, time.Second).Milliseconds())
			l := kmsg.NewAddRaftVoterRequestListener()
			l.Name, l.Host, l.Port = raftListener, host, uint16(port)
			req.Listeners = append(req.Listeners, l)
			what := fmt.Sprintf("add voter %d", id)
			raw, err := s.adminRequest(what, req)
			if err != nil {
				return err
			}
			resp := raw.(*kmsg.AddRaftVoterResponse)
			if err := kafkaError(what, resp.ErrorCode, resp.ErrorMessage); err != nil {
				return err
			}
			return af.emit(inv, voterChange{Action: "added", ID: int32(id), RaftAddress: raftAddr}, fmt.Sprintf("added node %d (raft %s) as a voter\n", id, raftAddr))
		}),
	}
}

func adminVotersRemoveCommand() *command {
	var af adminFlags
	var id int
	return &command{
		name:    "remove",
		summary: "remove a voter or learner from the metadata quorum",
		help: `Remove node --id from the metadata quorum (RemoveRaftVoter), a voter or a
learner. Keep a majority of the remaining voters running. The removed node's
broker stays registered until it is stopped. Only a broker's admin listener
serves the call (runnel broker --admin-addr): --bootstrap names it.`,
		flags: func(fs *flag.FlagSet) {
			af.register(fs)
			fs.IntVar(&id, "id", 0, "node `ID` to remove")
		},
		run: af.run(func(s *adminSession, inv *invocation) error {
			if id <= 0 || id > 1<<31-1 {
				return usagef("--id %d: want the positive node id of the voter to remove", id)
			}
			req := kmsg.NewPtrRemoveRaftVoterRequest()
			req.VoterID = int32(id)
			what := fmt.Sprintf("remove voter %d", id)
			raw, err := s.adminRequest(what, req)
			if err != nil {
				return err
			}
			resp := raw.(*kmsg.RemoveRaftVoterResponse)
			if err := kafkaError(what, resp.ErrorCode, resp.ErrorMessage); err != nil {
				return err
			}
			return af.emit(inv, voterChange{Action: "removed", ID: int32(id)}, fmt.Sprintf("removed node %d from the metadata quorum\n", id))
		}),
	}
}

// adminRequest sends an admin-listener-only request to the --bootstrap
// broker: refused with the way out when that address is not an admin
// listener, wire errors explained.
func (s *adminSession) adminRequest(what string, req kmsg.Request) (kmsg.Response, error) {
	if err := s.requireAdminListener(what, req.Key()); err != nil {
		return nil, err
	}
	resp, err := s.cl.SeedBrokers()[0].Request(s.ctx, req)
	if err != nil {
		return nil, s.wireError(what, err)
	}
	return resp, nil
}

// requireAdminListener refuses, with the way out, when the --bootstrap
// address does not serve key: the voter APIs are served on a broker's admin
// listener only, which the client listener does not even list.
func (s *adminSession) requireAdminListener(what string, key int16) error {
	av, err := kmsg.NewPtrApiVersionsRequest().RequestWith(s.ctx, s.cl.SeedBrokers()[0])
	if err != nil {
		return s.wireError(what, err)
	}
	for _, k := range av.ApiKeys {
		if k.ApiKey == key {
			return nil
		}
	}
	return fmt.Errorf("%s: %s is not an admin listener (it does not serve %s): pass a broker's --admin-addr address as --bootstrap",
		what, s.seed, kmsg.NameForKey(key))
}
