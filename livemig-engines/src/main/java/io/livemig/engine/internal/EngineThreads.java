package io.livemig.engine.internal;

import org.slf4j.MDC;

import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Makes every thread a migration starts, from the options' {@link ThreadFactory} when the caller
 * gave one ({@link io.livemig.api.MigrationOptions#threadFactory()}), else as platform daemon
 * threads named {@code livemig-*}. A new thread inherits its maker's MDC (so its log lines carry
 * the migration id) and its maker's factory (so the threads it makes in turn come from the same
 * place). The factory is bound to the migration's own thread by {@link #bind}, for the time the
 * migration runs: the parts that start threads need no factory handed down to them.
 *
 * <p>Thread-safe.
 */
public final class EngineThreads {

    private static final ThreadLocal<ThreadFactory> FACTORY = new ThreadLocal<>();

    private EngineThreads() {
    }

    /**
     * Binds {@code factory} to the calling thread until the returned binding is closed.
     *
     * @param factory the caller's factory, or empty for livemig's own threads
     * @return the binding; closing it restores what was bound before
     */
    public static Binding bind(Optional<ThreadFactory> factory) {
        ThreadFactory before = FACTORY.get();
        if (factory.isPresent()) {
            FACTORY.set(factory.get());
        } else {
            FACTORY.remove();
        }
        return () -> {
            if (before == null) {
                FACTORY.remove();
            } else {
                FACTORY.set(before);
            }
        };
    }

    /**
     * @param name the thread's name (a caller's factory may name it otherwise)
     * @param task what it runs
     * @return a new, unstarted thread
     * @throws IllegalStateException if the caller's factory made none
     */
    public static Thread unstarted(String name, Runnable task) {
        ThreadFactory factory = FACTORY.get();
        return make(factory, name, task);
    }

    /**
     * @param prefix the threads' name prefix; each gets a number after it
     * @return a factory for thread pools, making threads as {@link #unstarted} does with the factory
     *         bound now
     */
    public static ThreadFactory named(String prefix) {
        ThreadFactory factory = FACTORY.get();
        AtomicInteger next = new AtomicInteger();
        return task -> make(factory, prefix + next.getAndIncrement(), task);
    }

    private static Thread make(ThreadFactory factory, String name, Runnable task) {
        // A class, not a lambda: linking a lambda's call site the first time costs milliseconds, and
        // a post-copy destination starts its request thread inside the downtime.
        Runnable wrapped = new Inherited(factory, MDC.getCopyOfContextMap(), task);
        if (factory == null) {
            return Thread.ofPlatform().daemon().name(name).unstarted(wrapped);
        }
        Thread thread = factory.newThread(wrapped);
        if (thread == null) {
            throw new IllegalStateException("the options' thread factory made no thread for " + name);
        }
        return thread;
    }

    /** Runs a task with its maker's factory and MDC. */
    private record Inherited(ThreadFactory factory, Map<String, String> mdc, Runnable task) implements Runnable {
        @Override
        public void run() {
            if (factory != null) {
                FACTORY.set(factory);
            }
            if (mdc != null) {
                MDC.setContextMap(mdc);
            }
            try {
                task.run();
            } finally {
                MDC.clear();
                FACTORY.remove();
            }
        }
    }

    /** A factory bound to a thread; closing it unbinds it. */
    @FunctionalInterface
    public interface Binding extends AutoCloseable {
        @Override
        void close();
    }
}
