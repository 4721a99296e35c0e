package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

func init() {
	register(kmsg.DescribeUserSCRAMCredentials, 0, 0, (*Broker).handleDescribeUserScramCredentials)
}

// scramMechanisms maps Kafka's ScramMechanism codes (KIP-554) to names.
var scramMechanisms = map[int8]string{1: metadata.ScramSHA256, 2: metadata.ScramSHA512}

// scramMechanismCode is the inverse of scramMechanisms.
func scramMechanismCode(name string) int8 {
	for code, n := range scramMechanisms {
		if n == name {
			return code
		}
	}
	return 0
}

// handleDescribeUserScramCredentials lists users and the mechanisms and
// iteration counts of their credentials, never salts or keys. A null user
// list describes every user; a named user without credentials is
// RESOURCE_NOT_FOUND, one named twice DUPLICATE_RESOURCE, as in Kafka.
func (b *Broker) handleDescribeUserScramCredentials(_ context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
	req := r.Msg.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	img := b.member.Image()
	users := img.ScramUsers()
	if req.Users != nil {
		byName := map[string]metadata.ScramUser{}
		for _, u := range users {
			byName[u.Name] = u
		}
		count := map[string]int{}
		for _, u := range req.Users {
			count[u.Name]++
		}
		users = users[:0:0]
		for _, u := range req.Users {
			res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
			res.User = u.Name
			su, ok := byName[u.Name]
			switch {
			case count[u.Name] > 1:
				res.ErrorCode = kerr.DuplicateResource.Code
				res.ErrorMessage = kmsg.StringPtr("user named more than once")
			case !ok:
				res.ErrorCode = kerr.ResourceNotFound.Code
				res.ErrorMessage = kmsg.StringPtr("user has no SCRAM credentials")
			default:
				res.CredentialInfos = credentialInfos(su)
			}
			resp.Results = append(resp.Results, res)
		}
		return &kafkaserver.Response{Msg: resp}, nil
	}
	for _, u := range users {
		res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		res.User, res.CredentialInfos = u.Name, credentialInfos(u)
		resp.Results = append(resp.Results, res)
	}
	return &kafkaserver.Response{Msg: resp}, nil
}

func credentialInfos(u metadata.ScramUser) []kmsg.DescribeUserSCRAMCredentialsResponseResultCredentialInfo {
	var out []kmsg.DescribeUserSCRAMCredentialsResponseResultCredentialInfo
	for _, c := range u.Credentials {
		info := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
		info.Mechanism, info.Iterations = scramMechanismCode(c.Mechanism), int32(c.Iterations)
		out = append(out, info)
	}
	return out
}
