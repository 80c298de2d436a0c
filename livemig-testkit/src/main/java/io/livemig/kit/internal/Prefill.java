package io.livemig.kit.internal;

/**
 * Which pages of a kit VM hold non-zero content when it is created: a share {@code fraction} of
 * the RAM pages, chosen by a 64-bit hash of {@code (seed, page)}, so equal seeds choose equal
 * pages. The hash is SplitMix64's finalizer, which the kit's other pseudo-random choices
 * ({@link WriteSequence}'s seeding, the simulated VM's page contents) use too.
 *
 * <p>The two kinds of VM salt the hash differently ({@link #IN_MEMORY_SALT},
 * {@link #SIMULATED_SALT}), so they do not choose the same pages for the same seed. They did so
 * before they shared this code, and the simulated VM's choice is in published figures: each
 * keeps its salt.
 *
 * @param fraction share of pages chosen, 0 to 1
 * @param seed     the workload's seed
 * @param salt     added to the page number before it is hashed
 */
public record Prefill(double fraction, long seed, long salt) {

    /** The salt of {@link io.livemig.kit.InMemoryVm}. */
    public static final long IN_MEMORY_SALT = 0x632BE59BD9B4E019L;
    /** The salt of {@link io.livemig.kit.SimulatedVm}. */
    public static final long SIMULATED_SALT = 7;
    /** The golden-ratio increment of SplitMix64: spreads consecutive seeds over the whole range. */
    public static final long GOLDEN_GAMMA = 0x9E3779B97F4A7C15L;

    /** @throws IllegalArgumentException if {@code fraction} is not in [0, 1] */
    public Prefill {
        if (!(fraction >= 0 && fraction <= 1)) {
            throw new IllegalArgumentException("prefill must be in [0, 1], was " + fraction);
        }
    }

    /**
     * @param page a page number
     * @return the page's hash for this seed and salt; {@link io.livemig.kit.InMemoryVm} also
     *         seeds the page's random bytes with it
     */
    public long hash(long page) {
        return mix(seed * GOLDEN_GAMMA ^ mix(page + salt));
    }

    /**
     * @param page a page number
     * @return whether the page starts with non-zero content
     */
    public boolean chooses(long page) {
        long threshold = (long) (fraction * (1L << 53));
        return threshold > 0 && (hash(page) >>> 11) < threshold;
    }

    /**
     * SplitMix64's finalizer: a bijection of the 64-bit values that spreads every input bit over
     * the output; never returns 0 (0 maps to {@link #GOLDEN_GAMMA}), so its result can seed an
     * xorshift generator.
     *
     * @param z any value
     * @return the mixed value, never 0
     */
    public static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z = z ^ (z >>> 31);
        return z == 0 ? GOLDEN_GAMMA : z;
    }
}
