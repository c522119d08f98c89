/*
 * Opening an fd inside another network namespace: setns(CLONE_NEWNET) on the
 * calling thread only, open, setns back. A socket or TUN keeps the namespace it
 * was created in, so one process can hold an HA's sockets in one namespace and
 * an MN's in another. Must never leave the thread in the other namespace: if
 * the way back fails the process aborts, because every later socket would be
 * opened in the wrong place.
 */
#define _GNU_SOURCE
#include "io.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

int netns_enter(const char *path, netns_guard *g, const char **failed_call) {
  g->saved = -1;
  if (path == NULL || path[0] == 0) return 0;
  /* thread-self, not self: in a worker thread "self" is the main thread's namespace. */
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) {
    *failed_call = "open(/proc/thread-self/ns/net)";
    return errno;
  }
  int target = open(path, O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int e = errno;
    close(self);
    *failed_call = "open(netns)";
    return e;
  }
  if (setns(target, CLONE_NEWNET) < 0) {
    int e = errno;
    close(target);
    close(self);
    *failed_call = "setns(netns)";
    return e;
  }
  close(target);
  g->saved = self;
  return 0;
}

void netns_leave(netns_guard *g) {
  if (g->saved < 0) return;
  if (setns(g->saved, CLONE_NEWNET) < 0) {
    napi_fatal_error("dsmip6 netns", NAPI_AUTO_LENGTH,
                     "setns back to the original network namespace failed", NAPI_AUTO_LENGTH);
  }
  close(g->saved);
  g->saved = -1;
}
