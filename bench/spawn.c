/*
 * bench/spawn.c: run one command, time it, report its peak RSS.
 *
 *   spawn OUT CMD [ARG...]
 *
 * The command's stdin is /dev/null, its stdout goes to OUT ("-" = /dev/null),
 * its stderr is ours. When it ends we print one line on our stdout:
 *
 *   WALL_NS MAXRSS_KIB STATUS UTIME_US STIME_US
 *
 * STATUS is the exit code, or 128+signal. The clock runs from just before
 * fork() to just after wait4() returns, so our own start-up is not counted.
 *
 * Why not time from Python directly: a child's ru_maxrss includes the anonymous
 * memory of the process that forked it (copied page tables are counted, and exec
 * keeps the old mm's high-water mark). From a Python harness that is ~10 MiB or
 * more, larger than mkenvimage itself; from this small program it is a few pages,
 * the same as /usr/bin/time.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: spawn OUT CMD [ARG...]\n");
        return 2;
    }
    const char *out = strcmp(argv[1], "-") == 0 ? "/dev/null" : argv[1];
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (in < 0 || fd < 0) {
        fprintf(stderr, "spawn: %s: %s\n", in < 0 ? "/dev/null" : out, strerror(errno));
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        perror("spawn: fork");
        return 2;
    }
    if (pid == 0) {
        dup2(in, 0);
        dup2(fd, 1);
        execvp(argv[2], argv + 2);
        fprintf(stderr, "spawn: %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    int st = 0;
    struct rusage ru;
    while (wait4(pid, &st, 0, &ru) < 0) {
        if (errno != EINTR) {
            perror("spawn: wait4");
            return 2;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long long ns = (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
    int status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    printf("%lld %ld %d %lld %lld\n", ns, ru.ru_maxrss, status,
           (long long)ru.ru_utime.tv_sec * 1000000LL + ru.ru_utime.tv_usec,
           (long long)ru.ru_stime.tv_sec * 1000000LL + ru.ru_stime.tv_usec);
    return 0;
}
