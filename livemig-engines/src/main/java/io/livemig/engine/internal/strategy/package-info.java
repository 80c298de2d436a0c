/**
 * The strategies (cold, pre-copy, post-copy, hybrid; {@link
 * io.livemig.engine.internal.strategy.Strategies} finds each by name): which pages go when,
 * decided through the narrow {@link io.livemig.engine.internal.strategy.CopyContext}, with the
 * escalation ladder, the convergence monitor and the rate estimates they decide with. Not exported.
 */
package io.livemig.engine.internal.strategy;
