/**
 * A fetch that can lose its connection on demand, like a phone going through a tunnel: the body
 * errors with a TypeError (what fetch raises on a network failure) and the real connection is
 * cancelled, so the server sees the client go away and the client has to resume by Last-Event-ID.
 */
export interface DroppableFetch {
  fetch: typeof fetch;
  /** Drop every open response body; returns how many were dropped. */
  drop(): number;
}

export function createDroppableFetch(inner: typeof fetch = globalThis.fetch.bind(globalThis)): DroppableFetch {
  const open = new Set<(reason: Error) => void>();

  const droppable: typeof fetch = async (input, init) => {
    const response = await inner(input, init);
    const body = response.body;
    if (body === null) return response;
    const reader = body.getReader();
    let fail: (reason: Error) => void = () => undefined;
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        fail = (reason) => {
          open.delete(fail);
          controller.error(reason);
          reader.cancel(reason).catch(() => undefined);
        };
        open.add(fail);
      },
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            open.delete(fail);
            controller.close();
          } else {
            controller.enqueue(value);
          }
        } catch (error) {
          open.delete(fail);
          controller.error(error);
        }
      },
      cancel(reason) {
        open.delete(fail);
        return reader.cancel(reason);
      },
    });
    return new Response(stream, { status: response.status, statusText: response.statusText, headers: response.headers });
  };

  return {
    fetch: droppable,
    drop() {
      const failures = [...open];
      for (const fail of failures) fail(new TypeError("network connection lost (dropped by the demo)"));
      return failures.length;
    },
  };
}
