/**
 * A bridge from livemig's {@link io.livemig.api.MigrationEvent}s to Micrometer meters:
 * {@link io.livemig.micrometer.LivemigMetrics}.
 */
package io.livemig.micrometer;
