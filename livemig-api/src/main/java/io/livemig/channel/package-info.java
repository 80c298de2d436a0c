/**
 * The transport contract: a full-duplex, message-framed {@link io.livemig.channel.Channel}.
 * The engines ship TCP and in-memory implementations; anything that can carry ordered,
 * length-delimited messages in both directions can implement it.
 */
package io.livemig.channel;
