// Package fanout serves many subscribers of a partition from one upstream
// reader, for the gateway's WebSocket subscriptions. It knows nothing of
// HTTP or of Kafka: a subscriber is a Sink, and the log is a Source
// (backend.KafkaSource reads a Runnel or Kafka cluster over the Kafka
// protocol). Both speak package event: Records in, Records out.
//
// # Shared tail
//
// A Hub keeps one tail reader per (topic, partition) while the partition has
// subscribers. It starts at the high watermark, long-polls the Source from
// its position forward, and queues every batch it reads to each subscriber
// that is caught up ("live"). The events are decoded once and shared: a
// subscriber's queue holds the same event.Records as every other's. The last
// subscriber to leave stops the tail and waits for it.
//
// A Sink that is also a LiveSink skips the subscriber's queue: the tail
// offers it the batch directly, without waiting, and a refused offer
// pauses the subscriber just as a full queue does (see below).
//
// # Slow subscribers
//
// A subscription's goroutine takes its queue and calls Sink.Deliver. It runs
// only while there is such work (or catching up, below, or ending): a
// caught-up subscriber of a LiveSink has none, so thousands of idle
// subscribers cost no goroutines. The queue is bounded (Options.MaxQueueEvents and
// MaxQueueBytes, counting the events being delivered). The tail never waits
// for a subscriber: when a queue cannot take a whole batch, the subscriber
// gets the prefix that fits, is removed from the live set and remembers the
// first offset it did not get. It is paused, not sent a gap.
//
// A paused subscriber, once its queue has drained, is in catch-up mode: its
// goroutine fetches from the Source at its own offset and delivers each
// batch directly, so it holds at most one fetch (Options.FetchMaxBytes)
// beyond its queue. It reads only below the tail's position, where events
// are stored, so with a StoredSource it reads without waiting behind the
// tail's long poll. A subscriber that starts at an offset behind the tail
// (reconnect, Earliest) starts in this mode.
//
// # Handoff
//
// The tail's position (the offset after the last batch it fanned out) and
// the live set change only under the partition's lock. Before each catch-up
// fetch the subscriber takes that lock and compares its own next offset with
// the tail's position: if it has reached it, it joins the live set there and
// then. Every event below the tail's position has been delivered to it by
// its own reads; every event from that position on is fanned out after the
// join, by the tail. A subscriber may have read past the tail (the tail's
// next fetch is still in flight), so the fan-out skips events below each
// subscriber's own next offset. Hence no gap and no duplicate, whichever
// reader gets there first.
//
// # Errors and lifetimes
//
// Fetch errors are retried after Options.RetryBackoff. When retention
// removes events a subscriber has not read yet, it ends with an
// *event.OffsetOutOfRangeError rather than skipping them; Subscribe returns
// the same error for a start offset outside the log.
//
// Stored data that cannot be read (the broker reports it damaged, or a
// batch does not decode) is an *event.UnreadableError, which no retry
// cures. A fetch returns the events before such data first. The tail moves
// past it at once and sends its live subscribers to catch-up; each
// subscriber meets it at its own offset, and an UnreadableSink is told
// which offsets it loses, in order with its events, and goes on after them:
// nobody stalls and nobody skips without being told. A subscriber whose
// Sink cannot be told ends with the error instead. (backend.KafkaSource
// logs each damaged range once.)
//
// A subscription ends on Unsubscribe, on the end of the context given to
// Subscribe, on a Sink error, or on Hub.Close; each of these waits for, or
// lets the caller wait for (Subscription.Done), every goroutine involved.
package fanout
