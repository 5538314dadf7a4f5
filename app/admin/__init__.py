"""Operations pages for admins: queues, failed jobs and their retry."""
