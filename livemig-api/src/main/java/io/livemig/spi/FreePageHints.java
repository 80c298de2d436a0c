package io.livemig.spi;

/**
 * The guest's report of pages it does not use (free-page hinting, as virtio-balloon does it, or
 * the self-ballooning of Hines et al.). Engines skip hinted pages: a hint means "the content
 * does not matter", so the destination holds zeros there. A hinted page that the guest uses
 * again is written first, so dirty tracking sends it like any other page.
 *
 * <p>Thread-safe; called by the engine while the guest runs.
 */
@FunctionalInterface
public interface FreePageHints {

    /**
     * {@return a new set of the pages the guest reports free right now, span
     * {@code layout().pageSpan()}, owned by the caller}
     */
    PageSet freePages();
}
