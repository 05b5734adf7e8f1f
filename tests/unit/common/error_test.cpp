#include "common/error.hpp"

#include <boost/asio/error.hpp>
#include <gtest/gtest.h>

namespace rostersync {
namespace {

TEST(Error, CommonCategoryNamesAndMessages)
{
    error_code ec = common::errc::timeout;
    EXPECT_STREQ(ec.category().name(), "rostersync.common");
    EXPECT_EQ(ec.message(), "deadline exceeded");
    EXPECT_EQ(error_code(common::errc::limit_exceeded).message(), "size or count limit exceeded");
}

TEST(Error, RetryableClassification)
{
    EXPECT_TRUE(is_retryable(common::errc::timeout));
    EXPECT_TRUE(is_retryable(common::errc::io_error));
    EXPECT_FALSE(is_retryable(common::errc::invalid_argument));
    EXPECT_FALSE(is_retryable(common::errc::cancelled));
    EXPECT_FALSE(is_retryable(error_code{}));
    EXPECT_TRUE(is_retryable(boost::asio::error::connection_reset));
    EXPECT_TRUE(is_retryable(boost::asio::error::timed_out));
    EXPECT_FALSE(is_retryable(boost::asio::error::access_denied));
    EXPECT_FALSE(is_retryable(boost::asio::error::operation_aborted));
}

TEST(Error, ResultCarriesValueOrError)
{
    auto f = [](bool ok) -> result<int> {
        if (ok) return 7;
        return common::errc::invalid_argument;
    };
    ASSERT_TRUE(f(true));
    EXPECT_EQ(*f(true), 7);
    ASSERT_FALSE(f(false));
    EXPECT_EQ(f(false).error(), error_code(common::errc::invalid_argument));
}

}  // namespace
}  // namespace rostersync
