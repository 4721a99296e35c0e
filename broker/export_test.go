package broker

// CreateInternalTopic lets the external tests take the path the broker's
// coordinators take to create the topics clients may not.
var CreateInternalTopic = (*Broker).createInternalTopic
