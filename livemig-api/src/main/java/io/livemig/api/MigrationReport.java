package io.livemig.api;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The immutable outcome of a migration, from one side's point of view.
 *
 * <p>Times are measured on the migration's {@link TimeSource}. On the source, {@code downtime}
 * runs from the source's pause to the arrival of the destination's "resumed" message, both read
 * on the source's clock: an upper bound of the true pause by one transit of the return path
 * (tens of microseconds on a LAN). On the destination it runs from the switchover message's
 * arrival to the resume.
 *
 * @param strategy          the strategy that ran (after any escalation, the last one)
 * @param status            how it ended
 * @param verification      the page-by-page comparison's result
 * @param mismatchedPages   pages whose digests differed (0 unless {@code MISMATCH})
 * @param memoryBytes       the VM's RAM size in bytes, holes excluded
 * @param totalTime         from the start of the handshake until the VM runs at the destination
 *                          alone: its resume (cold, pre-copy) or the last page's arrival
 *                          (post-copy); the verification pass that may follow is not included
 * @param verificationTime  how long that verification pass took; zero if there was none
 * @param downtime          source pause to destination resume; zero if the VM never paused
 * @param expectedDowntime  what the engine predicted when it decided to switch over
 * @param bytesOnWire       bytes sent on the forward stream, frame headers included
 * @param rounds            the number of memory rounds
 * @param pagesByEncoding   pages sent per encoding name ({@code "zero"}, {@code "raw"}, ...), and under
 *                          {@code "unchanged"} the dirtied pages XBZRLE found unchanged and did not send
 * @param bytesByEncoding   payload bytes sent per encoding name
 * @param bytesSaved        page bytes not sent thanks to zero pages and codecs: pages sent times the
 *                          page size, minus their payload bytes
 * @param roundsDetail      per-round statistics, in order
 * @param forced            whether the switchover was forced past the downtime limit (the FORCE step)
 * @param policyActions     what the escalation ladder did, in order (e.g. {@code "auto-converge 30%"})
 * @param postcopy          what the post-copy phase did, or null if there was none
 * @param failure           what went wrong, if {@code status != COMPLETED}; else null
 */
public record MigrationReport(Strategy strategy, MigrationStatus status, Verification verification,
                              long mismatchedPages, long memoryBytes, Duration totalTime, Duration verificationTime,
                              Duration downtime,
                              Duration expectedDowntime, long bytesOnWire, int rounds,
                              Map<String, Long> pagesByEncoding, Map<String, Long> bytesByEncoding,
                              long bytesSaved, List<RoundStats> roundsDetail,
                              boolean forced, List<String> policyActions, PostcopyStats postcopy,
                              String failure) {

    /** @throws IllegalArgumentException for negative counts; collections are copied */
    public MigrationReport {
        Objects.requireNonNull(strategy, "strategy");
        Objects.requireNonNull(status, "status");
        Objects.requireNonNull(verification, "verification");
        Objects.requireNonNull(totalTime, "totalTime");
        Objects.requireNonNull(verificationTime, "verificationTime");
        Objects.requireNonNull(downtime, "downtime");
        Objects.requireNonNull(expectedDowntime, "expectedDowntime");
        if (mismatchedPages < 0 || memoryBytes < 0 || bytesOnWire < 0 || rounds < 0) {
            throw new IllegalArgumentException("report counts must not be negative");
        }
        pagesByEncoding = Map.copyOf(new TreeMap<>(pagesByEncoding));
        bytesByEncoding = Map.copyOf(new TreeMap<>(bytesByEncoding));
        roundsDetail = List.copyOf(roundsDetail);
        policyActions = List.copyOf(policyActions);
        if (status == MigrationStatus.COMPLETED && failure != null) {
            throw new IllegalArgumentException("a completed migration has no failure");
        }
    }

    /** @return true only if the destination's memory at resume equalled the source's at pause, page for page */
    public boolean verified() {
        return verification == Verification.VERIFIED;
    }

    /** @return the total of {@link #pagesByEncoding()}, unchanged pages (not sent) excluded */
    public long pagesSent() {
        long total = 0;
        for (Map.Entry<String, Long> e : pagesByEncoding.entrySet()) {
            if (!e.getKey().equals("unchanged")) {
                total += e.getValue();
            }
        }
        return total;
    }

    /** @return the post-copy statistics, if the migration had a post-copy phase */
    public Optional<PostcopyStats> postcopyStats() {
        return Optional.ofNullable(postcopy);
    }

    /** @return the failure description, if the migration did not complete */
    public Optional<String> failureMessage() {
        return Optional.ofNullable(failure);
    }
}
