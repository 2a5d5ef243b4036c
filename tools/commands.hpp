// Subcommands of the `catena` tool that live in their own files.
#pragma once

#include <catena/dataset.hpp>

#include <boost/program_options.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace catena_tool {

// Parses a subcommand's options; false (after printing help) when --help was given.
bool parse(const std::string& name, const std::string& summary, boost::program_options::options_description& opts,
           const std::vector<std::string>& args, boost::program_options::variables_map& vm,
           const boost::program_options::positional_options_description* positional = nullptr);

// A byte count for people: "812 B", "3.1 MiB".
std::string bytes_text(uint64_t b);

// The train and test splits of fashion-mnist, mnist or cifar10 (images, N x C x H x W),
// from `dir` or the data set's default folder.
std::pair<catena::DatasetPtr, catena::DatasetPtr> load_dataset(const std::string& dataset, const std::string& dir);

int cmd_compress(const std::vector<std::string>& args);
int cmd_train(const std::vector<std::string>& args);
int cmd_inspect(const std::vector<std::string>& args);
int cmd_convert(const std::vector<std::string>& args);
int cmd_eval(const std::vector<std::string>& args);
int cmd_conformance(const std::vector<std::string>& args);

}  // namespace catena_tool
