/**
 * The in-memory kit: what users' tests and researchers drive the engines with. An
 * {@link io.livemig.kit.InMemoryVm} whose guest really writes into its memory following a
 * {@link io.livemig.kit.Workload}, the {@code mem:} {@link io.livemig.kit.InMemoryProvider},
 * and {@link io.livemig.kit.InMemoryChannel}s with bandwidth and latency shaping.
 */
package io.livemig.kit;
