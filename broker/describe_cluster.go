package broker

import (
	"context"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeCluster, 0, 1, (*Broker).handleDescribeCluster) }

// brokerEndpointType is DescribeCluster's endpoint type for brokers (v1+);
// controllers (2) are not reachable over the Kafka protocol in Runnel: every
// broker forwards admin requests to the active controller itself.
const brokerEndpointType = 1

// clusterOperations are the cluster operations a client may perform, for
// include_cluster_authorized_operations. Runnel has no authorizer on the Kafka
// listener, so every operation Kafka defines on the cluster is allowed.
var clusterOperations = []kmsg.ACLOperation{
	kmsg.ACLOperationCreate, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe,
	kmsg.ACLOperationClusterAction, kmsg.ACLOperationDescribeConfigs,
	kmsg.ACLOperationAlterConfigs, kmsg.ACLOperationIdempotentWrite,
}

// handleDescribeCluster lists the live (unfenced) brokers with their
// advertised host, port and rack, the active controller's id and the cluster
// id.
func (b *Broker) handleDescribeCluster(ctx context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
	req := r.Msg.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = brokerEndpointType
	if req.Version >= 1 && req.EndpointType != brokerEndpointType {
		err := refuse(kerr.UnsupportedEndpointType, "endpoint type %d is not supported: only brokers (1) are listed", req.EndpointType)
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return &kafkaserver.Response{Msg: resp}, nil
	}
	resp.ClusterID = b.member.Image().ClusterID()
	resp.ControllerID = b.controllerID()
	for _, br := range b.member.Image().Brokers() {
		if br.Fenced {
			continue
		}
		host, port, ok := advertisedOn(br, r.Conn.Listener)
		if !ok {
			continue
		}
		rb := kmsg.NewDescribeClusterResponseBroker()
		rb.NodeID, rb.Host, rb.Port = br.ID, host, port
		if br.Rack != "" {
			rack := br.Rack
			rb.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, rb)
	}
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = 0
		for _, op := range clusterOperations {
			resp.ClusterAuthorizedOperations |= 1 << op
		}
	}
	return &kafkaserver.Response{Msg: resp}, nil
}
