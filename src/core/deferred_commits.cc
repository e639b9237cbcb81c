#include "greylist/deferred_commits.h"

#include <cassert>

namespace greylist {
namespace {

// The Scope open on this thread (one at most).
thread_local const DeferredCommits* t_deferring = nullptr;

}  // namespace

DeferredCommits::Scope::Scope(DeferredCommits& commits)
    : commits_(commits), incarnation_(commits.incarnation()) {
  assert(t_deferring == nullptr && "DeferredCommits::Scope does not nest");
  t_deferring = &commits_;
}

DeferredCommits::Scope::~Scope() { t_deferring = nullptr; }

const DeferredCommits* DeferredCommits::deferring_on_this_thread() { return t_deferring; }

Status DeferredCommits::outcome(const Ticket& ticket, const Status& flushed) const {
  if (!flushed.ok()) return flushed;
  if (covered(ticket)) return Status::Ok();
  return Status::Unavailable(
      "the database failed before these writes reached the log; they are lost");
}

}  // namespace greylist
